"""The Qlik Cloud emulator: one tenant, with JWT login (``POST /login/jwt-session``), session cookies and CSRF,
API keys, OAuth access tokens (``POST /oauth/token``), and a few REST APIs (users, licence assignment, identity
providers). See the package docstring for the API; the JWT rules and the identity-provider bodies are in
:mod:`.qscloud_jwt`, the OAuth token endpoint in :mod:`.qscloud_oauth`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from .qscloud_jwt import FOREIGN_TENANT, Identity, Idp, InvalidIdp, Refused, new_idp, patch_idp, verify
from .qscloud_oauth import ADMIN_SCOPE, CLIENT_CREDENTIALS, TOKEN_PATH, IssuedToken, TokenEndpoint, new_client
from .server import EmulatorServer, Handler, MountedEmulator, Request, Response, Router
from .tls import CertKind

LOGIN_PATH = "/login/jwt-session"
SESSION_COOKIE = "eas.sid"
CSRF_COOKIE = "_csrfToken"
CSRF_HEADER = "qlik-csrf-token"
#: methods that need no CSRF token (as the csurf defaults)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TENANT_ADMIN = "TenantAdmin"
ADMIN_ROLE = {"name": TENANT_ADMIN, "type": "default", "level": "admin"}
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
#: the allotments of a new tenant (a user-based subscription); set_allotment changes them
DEFAULT_ALLOTMENTS = {"professional": 10, "analyzer": 10}
CSRF_NOT_SUPPORTED = "Token is not supported for the auth mechanism being used"
NO_ALLOTMENT = "No available allotment error, No available allotment."

User = dict[str, Any]


class ApiError(Exception):
    """Raised by a handler to answer with Qlik's error JSON; ``code`` defaults to ``HTTP-<status>``."""

    def __init__(self, status: int, detail: str | None = None, *, code: str | None = None,
                 title: str | None = None) -> None:
        super().__init__(detail or title or str(status))
        self.response = error_response(status, code or f"HTTP-{status}", title or HTTPStatus(status).phrase, detail)


def error_response(status: int, code: str, title: str, detail: str | None = None) -> Response:
    """Qlik's error envelope: ``{"errors": [{"code", "title", "detail", "status"}], "traceId"}``."""
    error = {"code": code, "title": title, **({"detail": detail} if detail else {}), "status": str(status)}
    return Response.json({"errors": [error], "traceId": secrets.token_hex(16)}, status)


@dataclass(frozen=True)
class _Session:
    id: str
    user_id: str
    csrf_token: str


@dataclass(frozen=True)
class _Call:
    """What an API handler gets: the request and its user; ``session`` is None for an API key or an OAuth token,
    ``scopes`` the OAuth token's scopes (None for the other credentials)."""

    request: Request
    user: User
    session: _Session | None
    scopes: frozenset[str] | None = None

    @property
    def admin(self) -> bool:
        """A TenantAdmin's call; with an OAuth token, only when it carries ``admin_classic``."""
        return TENANT_ADMIN in self.user["roles"] and (self.scopes is None or ADMIN_SCOPE in self.scopes)


class QscloudEmulator(MountedEmulator):
    """An emulated Qlik Cloud tenant on an :class:`EmulatorServer`.

    With ``server=None`` it starts its own server (HTTPS when ``tls``, its certificate ``cert``) and stops it
    on :meth:`close`; given a ``server``, it mounts itself there (``tls`` and ``cert`` are then the server's).
    It answers ``/login/jwt-session``, ``/oauth/token`` and every ``/api/...`` path, and nothing else.
    """

    def __init__(self, tls: bool = True, *, server: EmulatorServer | None = None, cert: CertKind = "valid") -> None:
        super().__init__(tls, server=server, cert=cert)
        self.tenant_id = secrets.token_urlsafe(24)
        self._secret = secrets.token_bytes(32)
        self._idps: dict[str, Idp] = {}
        self._users: dict[str, User] = {}
        self._groups: dict[str, str] = {}
        self._api_keys: dict[str, str] = {}
        self._sessions: dict[str, _Session] = {}
        self._assignments: dict[str, str] = {}
        self._allotments = dict(DEFAULT_ALLOTMENTS)
        self._used_jtis: list[str] = []
        self._oauth = TokenEndpoint()
        self._router = self._routes()
        self._mount()

    # --- what tests read ---------------------------------------------------------------------------------

    @property
    def auth_failures(self) -> list[str]:
        """Why each refused login was refused, in order ("kid unknown", "claim nbf missing", "jti replayed", ...)."""
        with self._lock:
            return list(self._auth_failures)

    @property
    def used_jtis(self) -> list[str]:
        """The ``jti`` of every accepted token, in order: none of them is accepted again."""
        with self._lock:
            return list(self._used_jtis)

    @property
    def users(self) -> list[User]:
        """The tenant's users as ``GET /api/v1/users`` shows them (copies)."""
        with self._lock:
            return copy.deepcopy(list(self._users.values()))

    @property
    def oauth_clients(self) -> list[dict[str, Any]]:
        """The OAuth clients (as :meth:`add_oauth_client` returned them)."""
        with self._lock:
            return [client.to_dict() for client in self._oauth.clients.values()]

    @property
    def oauth_tokens_issued(self) -> list[IssuedToken]:
        """Every access token ``POST /oauth/token`` issued, in order (expired ones too)."""
        with self._lock:
            return list(self._oauth.issued)

    @property
    def oauth_failures(self) -> list[str]:
        """Why each refused token request (and each call with an expired access token) was refused, in order:
        "client unknown", "secret wrong", "assertion jti replayed", "grant not allowed: ...", "user not found",
        "access token expired", ..."""
        with self._lock:
            return list(self._oauth.failures)

    @property
    def oauth_jtis(self) -> list[str]:
        """The ``jti`` of every accepted client assertion, in order: none of them is accepted again."""
        with self._lock:
            return list(self._oauth.jtis)

    @property
    def identity_providers(self) -> list[Idp]:
        with self._lock:
            return copy.deepcopy(list(self._idps.values()))

    @property
    def license_assignments(self) -> dict[str, str]:
        """Subject -> allotment type of every licence assigned."""
        with self._lock:
            return dict(self._assignments)

    # --- what tests set up -------------------------------------------------------------------------------

    def add_jwt_idp(self, issuer: str, kid: str, pem: bytes | str, *, active: bool = True,
                    clock_skew: int | None = None) -> Idp:
        """Add a JWT IdP, validated as a POST body is; its PEM (a certificate or a public key) is put on one line,
        as Qlik wants it. ``clock_skew`` is its ``clockToleranceSec`` (default 5). Returns the IdP (a copy);
        ``ValueError`` if invalid."""
        text = pem.decode() if isinstance(pem, bytes) else pem
        body = {"protocol": "jwtAuth", "provider": "external", "interactive": False, "active": active,
                "options": {"issuer": issuer, "jwtLoginEnabled": True,
                            "staticKeys": [{"kid": kid, "pem": "".join(text.splitlines())}]},
                **({} if clock_skew is None else {"clockToleranceSec": clock_skew})}
        with self._lock:
            try:
                idp = new_idp(body, self.tenant_id, _stamp())
            except InvalidIdp as exc:
                raise ValueError(exc.detail) from exc
            self._idps[idp["id"]] = idp
            return copy.deepcopy(idp)

    def add_api_key(self, user: str, key: str, *, tenant_admin: bool = True) -> User:
        """Let ``Authorization: Bearer <key>`` act as the user with the subject ``user`` (created if new), with
        or without the TenantAdmin role. Returns the user."""
        with self._lock:
            if key in self._api_keys:
                raise ValueError("that API key is registered already")
            entity = self._user_by_subject(user) or self._new_user(user, user)
            entity["roles"] = [TENANT_ADMIN] if tenant_admin else []
            entity["assignedRoles"] = [dict(ADMIN_ROLE)] if tenant_admin else []
            self._api_keys[key] = entity["id"]
            return copy.deepcopy(entity)

    def add_user(self, subject: str, *, name: str | None = None, email: str | None = None,
                 tenant_admin: bool = False) -> User:
        """Add a user (as a first login would), with an email when given, and the TenantAdmin role or none.
        Returns the user; ``ValueError`` if the subject is taken."""
        with self._lock:
            if self._user_by_subject(subject) is not None:
                raise ValueError(f"a user with the subject {subject} exists already")
            user = self._new_user(subject, name or subject)
            if email is not None:
                user["email"] = email
            user["roles"] = [TENANT_ADMIN] if tenant_admin else []
            user["assignedRoles"] = [dict(ADMIN_ROLE)] if tenant_admin else []
            return copy.deepcopy(user)

    def add_oauth_client(self, client_id: str, *, secret: str | None = None, jwk: Any = None, kid: str | None = None,
                         alg: str = "RS256", allowed_grant_types: Iterable[str] = (CLIENT_CREDENTIALS,),
                         scopes: Iterable[str] = ("user_default",), access_token_ttl: int = 3600,
                         name: str | None = None) -> dict[str, Any]:
        """Register a machine-to-machine OAuth client (``appType: web``), and its service user (the subject
        ``oauth-client:<client_id>``, a TenantAdmin when ``scopes`` has ``admin_classic``), whom its
        ``client_credentials`` tokens act as. ``jwk``: a public JWK (dict), a PEM public key or certificate (with
        ``kid`` and ``alg``), or a list of JWKs; ``secret`` and ``jwk`` may both be given. Returns the client as
        the oauth-clients API shows it; ``ValueError`` for what Qlik would not register."""
        with self._lock:
            if client_id in self._oauth.clients:
                raise ValueError(f"an OAuth client with the id {client_id} exists already")
            scope_list = tuple(scopes)
            client = new_client(client_id, name=name, secret=secret, jwk=jwk, kid=kid, alg=alg,
                                allowed_grant_types=allowed_grant_types, scopes=scope_list,
                                access_token_ttl=access_token_ttl, service_user_id="")
            user = self._new_user(f"oauth-client:{client_id}", client.name)
            admin = ADMIN_SCOPE in scope_list
            user["roles"] = [TENANT_ADMIN] if admin else []
            user["assignedRoles"] = [dict(ADMIN_ROLE)] if admin else []
            client = replace(client, service_user_id=user["id"])
            self._oauth.add(client)
            return client.to_dict()

    def expire_oauth_tokens(self) -> None:
        """Make every access token issued so far expired (an API call with one is then a 401)."""
        with self._lock:
            self._oauth.expire_all(time.time())

    def set_allotment(self, license_type: str, count: int) -> None:
        """How many licences of ``license_type`` can be assigned (any other type has none)."""
        with self._lock:
            self._allotments[license_type] = count

    # --- the edge: login, authentication, CSRF -----------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        if request.path.rstrip("/") not in (LOGIN_PATH, TOKEN_PATH) and not request.path.startswith("/api/"):
            return None
        with self._lock:
            try:
                return self._answer(request)
            except ApiError as exc:
                return exc.response

    def _answer(self, request: Request) -> Response:
        if request.path.rstrip("/") == LOGIN_PATH:
            if request.method != "POST":
                raise ApiError(405, f"{LOGIN_PATH} takes POST only")
            return self._login(request)
        if request.path.rstrip("/") == TOKEN_PATH:
            if request.method != "POST":
                raise ApiError(405, f"{TOKEN_PATH} takes POST only")
            return self._oauth.answer(request, token_url=f"{self.url}{TOKEN_PATH}", now=time.time(),
                                      find_user=self._find_user)
        call = self._caller(request)
        modifying = request.method not in SAFE_METHODS
        if modifying and call.session is not None and not self._csrf_ok(call.session, request):
            raise ApiError(403, f"A {request.method} needs the {CSRF_HEADER} header of GET /api/v1/csrf-token",
                           code="CSRF-TOKEN-2", title="Invalid CSRF token")
        response = self._router.dispatch(request.method, request.path, call)
        if response is None:
            raise ApiError(404, f"No API at {request.path}")
        if response.status == 405:  # the router's plain-text answer, in Qlik's shape
            refusal = ApiError(405, f"{request.path} does not take {request.method}").response
            refusal.headers.extend(response.headers)
            return refusal
        return response

    def _login(self, request: Request) -> Response:
        try:
            identity = verify(_bearer(request), self._idps.values(), time.time(), self._used_jtis)
        except Refused as refused:
            self._auth_failures.append(refused.reason)
            return error_response(refused.status, refused.code, refused.title, refused.detail)
        self._used_jtis.append(identity.jti)
        user = self._signed_in(identity)
        session = _Session(secrets.token_urlsafe(24), user["id"], secrets.token_urlsafe(24))
        self._sessions[session.id] = session
        response = Response.json({})
        response.headers.extend(("Set-Cookie", cookie) for cookie in self._cookies(session, request.scheme))
        return response

    def _cookies(self, session: _Session, scheme: str) -> list[str]:
        """The session and CSRF cookies, each with its ``.sig`` (B.3)."""
        attributes = "; path=/; httponly" + ("; secure; samesite=none" if scheme == "https" else "")
        pairs = [(SESSION_COOKIE, session.id), (CSRF_COOKIE, session.csrf_token)]
        return [cookie + attributes for name, value in pairs
                for cookie in (f"{name}={value}", f"{name}.sig={self._signature(name, value)}")]

    def _signature(self, name: str, value: str) -> str:
        """A cookie's ``.sig`` value: HMAC-SHA1 of ``name=value``, base64url (as Node's keygrip makes it)."""
        digest = hmac.new(self._secret, f"{name}={value}".encode(), hashlib.sha1).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _signed_cookie(self, request: Request, name: str) -> str | None:
        """The cookie's value if its ``.sig`` cookie is sent too and matches."""
        cookies = request.cookies
        value = cookies.get(name)
        if value is None or cookies.get(f"{name}.sig") != self._signature(name, value):
            return None
        return value

    def _caller(self, request: Request) -> _Call:
        """The API key's user (``Authorization: Bearer <key>``), or the OAuth access token's (``Authorization:
        Bearer <token>``; an expired one is a 401), else the session's; else a 401."""
        bearer = _bearer_value(request) or ""
        user_id = self._api_keys.get(bearer)
        if user_id is not None:
            return _Call(request, self._users[user_id], None)
        issued = self._oauth.lookup(bearer)
        if issued is not None:
            if issued.expires_at <= time.time():
                self._oauth.failures.append("access token expired")
                raise ApiError(401, "The OAuth access token has expired", title="Unauthorized")
            return _Call(request, self._users[issued.user_id], None, frozenset(issued.scopes))
        session = self._sessions.get(self._signed_cookie(request, SESSION_COOKIE) or "")
        if session is not None:
            return _Call(request, self._users[session.user_id], session)
        raise ApiError(401, "No valid session cookie or API key", title="Unauthorized")

    def _csrf_ok(self, session: _Session, request: Request) -> bool:
        """The header, and the signed ``_csrfToken`` cookie, both carry the session's CSRF token."""
        return (request.headers.get(CSRF_HEADER) == session.csrf_token
                and self._signed_cookie(request, CSRF_COOKIE) == session.csrf_token)

    # --- the APIs ----------------------------------------------------------------------------------------

    def _routes(self) -> Router[_Call]:
        router: Router[_Call] = Router()
        anyone: list[tuple[str, str, Handler[_Call]]] = [
            ("GET", "/api/v1/csrf-token", _csrf_token),
            ("GET", "/api/v1/users/me", lambda call, _params: Response.json(copy.deepcopy(call.user))),
        ]
        admins: list[tuple[str, str, Handler[_Call]]] = [
            ("GET", "/api/v1/users", lambda call, _params: _page(call, list(self._users.values()))),
            ("POST", "/api/v1/licenses/assignments/actions/add", self._add_assignments),
            ("POST", "/api/v1/oauth-clients", self._create_oauth_client),
        ]
        idp_admins: list[tuple[str, str, Handler[_Call]]] = [
            ("GET", "/api/v1/identity-providers", self._list_idps),
            ("POST", "/api/v1/identity-providers", self._create_idp),
            ("GET", "/api/v1/identity-providers/{id}", lambda _call, params: Response.json(self._idp(params))),
            ("PATCH", "/api/v1/identity-providers/{id}", self._patch_idp),
            ("DELETE", "/api/v1/identity-providers/{id}", self._delete_idp),
        ]
        for method, pattern, handler in anyone:
            router.add(method, pattern, handler)
        for method, pattern, handler in admins:
            router.add(method, pattern, _admins_only(handler, "The caller lacks the TenantAdmin role"))
        for method, pattern, handler in idp_admins:
            router.add(method, pattern, _admins_only(handler, FOREIGN_TENANT))
        return router

    def _create_oauth_client(self, call: _Call, _params: dict[str, str]) -> Response:
        """``POST /api/v1/oauth-clients`` of a web (confidential) client: ``appType: "web"``, ``clientName``,
        ``allowedGrantTypes``, ``allowedScopes``, and ``publicKeys`` (JWKs, for private key JWT) or none (then a
        ``clientSecret`` is made and answered once). 201 with the client and its ``clientId``."""
        body = _json_body(call.request)
        if not isinstance(body, dict) or body.get("appType") != "web":
            raise ApiError(400, 'appType must be "web" (a confidential client; other types are not emulated)')
        name, grants, scopes = body.get("clientName"), body.get("allowedGrantTypes"), body.get("allowedScopes")
        keys = body.get("publicKeys", [])
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "clientName must be a non-empty string")
        if not isinstance(grants, list) or not isinstance(scopes, list) or not isinstance(keys, list):
            raise ApiError(400, "allowedGrantTypes, allowedScopes and publicKeys must be arrays")
        client_id = secrets.token_hex(16)
        secret = None if keys else secrets.token_urlsafe(32)
        try:
            client = new_client(client_id, name=name, secret=secret, jwk=keys or None, kid=None, alg="RS256",
                                allowed_grant_types=grants, scopes=scopes, access_token_ttl=3600,
                                service_user_id="")
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        user = self._new_user(f"oauth-client:{client_id}", client.name)
        if ADMIN_SCOPE in scopes:
            user["roles"], user["assignedRoles"] = [TENANT_ADMIN], [dict(ADMIN_ROLE)]
        client = replace(client, service_user_id=user["id"])
        self._oauth.add(client)
        answer = client.to_dict()
        if secret is not None:
            answer["clientSecret"] = secret
        return Response.json(answer, 201)

    def _add_assignments(self, call: _Call, _params: dict[str, str]) -> Response:
        """``{"add": [{subject, type}]}`` -> 207 with one result per item, in order (B.6)."""
        body = _json_body(call.request)
        items = body.get("add") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not all(_assignment_item(item) for item in items):
            raise ApiError(400, 'The body must be {"add": [{"subject": "...", "type": "..."}, ...]}')
        return Response.json({"data": [self._assign(item["subject"], item["type"]) for item in items]}, 207)

    def _assign(self, subject: str, license_type: str) -> dict[str, Any]:
        result: dict[str, Any] = {"subject": subject, "type": license_type}
        if self._user_by_subject(subject) is None:
            return {**result, "status": 404, "code": "HTTP-404", "title": "User not found."}
        if subject in self._assignments:
            return {**result, "status": 409, "code": "HTTP-409", "title": "The user has a license assigned already."}
        used = sum(assigned == license_type for assigned in self._assignments.values())
        if used >= self._allotments.get(license_type, 0):
            return {**result, "status": 403, "code": "LICENSES-011", "title": NO_ALLOTMENT}
        self._assignments[subject] = license_type
        return {**result, "status": 201}

    def _list_idps(self, call: _Call, _params: dict[str, str]) -> Response:
        """The IdPs, filtered by ``protocol`` and ``active`` when given, a page at a time."""
        protocol, active = call.request.query.get("protocol"), call.request.query.get("active")
        if active not in (None, "true", "false"):
            raise ApiError(400, "active must be true or false")
        idps = [idp for idp in self._idps.values()
                if protocol in (None, idp["protocol"]) and active in (None, str(idp["active"]).lower())]
        return _page(call, idps)

    def _create_idp(self, call: _Call, _params: dict[str, str]) -> Response:
        try:
            idp = new_idp(_json_body(call.request), self.tenant_id, _stamp())
        except InvalidIdp as exc:
            raise ApiError(exc.status, exc.detail) from exc
        self._idps[idp["id"]] = idp
        return Response.json(copy.deepcopy(idp), 201)

    def _patch_idp(self, call: _Call, params: dict[str, str]) -> Response:
        try:
            patch_idp(self._idp(params), _json_body(call.request), _stamp())
        except InvalidIdp as exc:
            raise ApiError(exc.status, exc.detail) from exc
        return Response(204)

    def _delete_idp(self, _call: _Call, params: dict[str, str]) -> Response:
        del self._idps[self._idp(params)["id"]]
        return Response(204)

    # --- state helpers (called with the lock held) -------------------------------------------------------

    def _idp(self, params: Mapping[str, str]) -> Idp:
        idp = self._idps.get(params["id"])
        if idp is None:
            raise ApiError(404, f"No identity provider with the id {params['id']}")
        return idp

    def _user_by_subject(self, subject: str) -> User | None:
        return next((user for user in self._users.values() if user["subject"] == subject), None)

    def _find_user(self, attribute: str, value: str) -> User | None:
        """The user whose ``attribute`` (``subject``, ``email`` or ``id``) is ``value``, for impersonation."""
        return next((user for user in self._users.values() if user.get(attribute) == value), None)

    def _new_user(self, subject: str, name: str) -> User:
        stamp, user_id = _stamp(), secrets.token_hex(12)
        user: User = {"id": user_id, "tenantId": self.tenant_id, "status": "active", "subject": subject,
                      "name": name, "roles": [], "assignedRoles": [], "assignedGroups": [], "createdAt": stamp,
                      "lastUpdatedAt": stamp}
        self._users[user_id] = user
        return user

    def _signed_in(self, identity: Identity) -> User:
        """The user of this subject, created on the first login; name, email and groups as the token says
        (the email shows only when the token says it is verified)."""
        user = self._user_by_subject(identity.subject) or self._new_user(identity.subject, identity.name)
        user.pop("email", None)
        if identity.email and identity.email_verified:
            user["email"] = identity.email
        user["name"] = identity.name
        user["assignedGroups"] = [{"id": self._groups.setdefault(name, secrets.token_hex(12)), "name": name,
                                   "providerType": "idp"} for name in identity.groups]
        user["lastUpdatedAt"] = _stamp()
        return user


def _admins_only(handler: Handler[_Call], detail: str) -> Handler[_Call]:
    def guarded(call: _Call, params: dict[str, str]) -> Response:
        if not call.admin:
            raise ApiError(403, detail)
        return handler(call, params)
    return guarded


def _csrf_token(call: _Call, _params: dict[str, str]) -> Response:
    """204 with the session's token in ``qlik-csrf-token`` (B.4); an API key has none: 400."""
    if call.session is None:
        raise ApiError(400, CSRF_NOT_SUPPORTED)
    return Response(204, headers=[(CSRF_HEADER, call.session.csrf_token)])


def _page(call: _Call, items: list[dict[str, Any]]) -> Response:
    """``{"data": [...], "links": {"self", "next"}}``: ``limit`` items (1-100, default 20) from the ``next``
    cursor on; the ``next`` link (absolute) keeps the other query parameters."""
    query = call.request.query
    limit = query.get("limit", str(DEFAULT_LIMIT))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    start = _cursor_start(items, query.get("next"))
    end = start + int(limit)
    links = {"self": {"href": _href(call.request, call.request.query_items)}}
    if end < len(items):
        kept = [(name, value) for name, value in call.request.query_items if name != "next"]
        links["next"] = {"href": _href(call.request, [*kept, ("next", _cursor(items[end]["id"]))])}
    return Response.json({"data": copy.deepcopy(items[start:end]), "links": links})


def _cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"from:{item_id}".encode()).decode()


def _cursor_start(items: list[dict[str, Any]], cursor: str | None) -> int:
    if cursor is None:
        return 0
    start = next((i for i, item in enumerate(items) if _cursor(item["id"]) == cursor), None)
    if start is None:
        raise ApiError(400, "next is not a cursor of this list (or its item is gone)")
    return start


def _href(request: Request, query_items: Iterable[tuple[str, str]]) -> str:
    query = urlencode(list(query_items))
    return f"{request.scheme}://{request.headers.get('host', '')}{request.path}" + (f"?{query}" if query else "")


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.body)
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc


def _assignment_item(item: Any) -> bool:
    return isinstance(item, dict) and all(isinstance(item.get(name), str) and item[name] for name in ("subject",
                                                                                                     "type"))


def _bearer_value(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _bearer(request: Request) -> str:
    token = _bearer_value(request)
    if token is None:
        raise Refused("no token", "Missing bearer token: send Authorization: Bearer <JWT>")
    return token


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

