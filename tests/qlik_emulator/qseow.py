"""The QSEoW emulator: the proxy (virtual proxies by prefix, JWT authentication, session cookies) in front of
a small in-memory Repository Service (QRS) and the Hybrid Deployment Service (HDS). See the package docstring for
the API; the JWT rules are in :mod:`.qseow_jwt`, the QRS entities and their validation in :mod:`.qrs_entities`,
the HDS in :mod:`.hds`.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import hds, qrs_entities as qrs
from .qrs_entities import AUTH_JWT, Entity
from .qseow_jwt import Identity, Refused, verify
from .server import EmulatorServer, Handler, HttpError, MountedEmulator, Request, Response, Router
from .tls import CertKind

#: parallel proxy sessions one user may hold
MAX_SESSIONS_PER_USER = 5
XRFKEY = re.compile(r"[0-9A-Za-z]{16}")
XRFKEY_FAILED = "XSRF prevention check failed. Possible XSRF discovered."
CENTRAL_HOST = "qlikserver1.domain.local"
ENGINE_UNAVAILABLE = "No available Qlik Sense engine was found. Please contact your system administrator."
TOO_MANY_SESSIONS = "You cannot access Qlik Sense because you have too many sessions active in parallel."


@dataclass(frozen=True)
class Session:
    """A proxy session: created by a valid JWT, found again by its cookie."""

    id: str
    vp_id: str
    user_directory: str
    user_id: str
    attributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Call:
    """What a QRS handler gets: the request, and whether its user is an administrator."""

    request: Request
    session: Session
    admin: bool

    def param(self, name: str) -> str | None:
        """A query parameter, its name matched case-insensitively."""
        return next((value for key, value in self.request.query_items if key.lower() == name), None)


class QseowEmulator(MountedEmulator):
    """An emulated Qlik Sense Enterprise on Windows: proxy + QRS + HDS, on an :class:`EmulatorServer`.

    With ``server=None`` it starts its own server (HTTPS when ``tls``, its certificate ``cert``, issued by a CA
    of its own with ``own_ca``) and stops it on :meth:`close`; given a ``server``, it mounts itself there
    (``tls``, ``cert`` and ``own_ca`` are then the server's).
    """

    def __init__(self, tls: bool = True, *, server: EmulatorServer | None = None, cert: CertKind = "valid",
                 own_ca: bool = False) -> None:
        super().__init__(tls, server=server, cert=cert, own_ca=own_ca)
        self._stamps = qrs.Stamps()
        self._nodes: dict[str, Entity] = {}
        self._proxy_services: dict[str, Entity] = {}
        self._vps: dict[str, Entity] = {}
        self._apps: list[Entity] = []
        self._users: dict[tuple[str, str], Entity] = {}
        self._admins: set[tuple[str, str]] = set()
        self._sessions: dict[str, Session] = {}
        self._logouts: list[str] = []
        self._xrfkeys: list[str] = []
        self._bump_on_put: set[str] = set()
        self._hds = hds.Hds()
        self.central_node = self._add_node("Central", CENTRAL_HOST, central=True)
        self._router = self._qrs_routes()
        self._mount()

    # --- what tests read ---------------------------------------------------------------------------------

    @property
    def xrfkeys(self) -> list[str]:
        """The xrfkey of every QRS request that passed the check, in order."""
        with self._lock:
            return list(self._xrfkeys)

    @property
    def logouts(self) -> list[str]:
        """The id of every session ended by ``DELETE /<prefix>/qps/user`` (the hub's log out), in order."""
        with self._lock:
            return list(self._logouts)

    @property
    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    @property
    def deployments(self) -> list[hds.Deployment]:
        """The HDS's cloud-distribution deployments (copies), in creation order."""
        with self._lock:
            return self._hds.deployments

    @property
    def site_id(self) -> str:
        """The site uuid in the issuer and kid of every local bearer token of this emulator."""
        return self._hds.site_id

    @property
    def site_issuer(self) -> str:
        """``https://qlik.<site uuid>``: ``issuerConfig.issuer`` of every local bearer token."""
        return self._hds.site_issuer

    @property
    def site_kid(self) -> str:
        """``qlik-<site uuid>``: ``staticKeys[0].kid`` of every local bearer token."""
        return self._hds.site_kid

    @property
    def site_public_pem(self) -> str:
        """The site's RSA public key as ``staticKeys[0].pem`` has it (SPKI PEM on one line)."""
        return self._hds.site_public_pem

    def virtual_proxy(self, prefix: str) -> Entity:
        """The VirtualProxyConfig with this prefix (a copy)."""
        with self._lock:
            return copy.deepcopy(self._vp_by_prefix(prefix))

    def proxy_service(self) -> Entity:
        """The central node's proxy service as the QRS returns it."""
        with self._lock:
            return qrs.render_proxy_service(self._central_proxy_service(), self._vps)

    # --- what tests set up -------------------------------------------------------------------------------

    def add_virtual_proxy(self, prefix: str, *, cert_pem: bytes | str | None = None, audience: str = "",
                          userid_claim: str = "userId", userdir_claim: str = "userDirectory",
                          attribute_map: Sequence[Mapping[str, Any]] = (), authentication_method: int = AUTH_JWT,
                          session_cookie_header_name: str | None = None, description: str | None = None,
                          linked: bool = True, load_balancing: bool = True) -> Entity:
        """Add a virtual proxy (validated as a POST is); ``linked`` links it to the central proxy service and
        ``load_balancing`` gives it the central node. Returns the VirtualProxyConfig; ``ValueError`` if invalid."""
        body = {"prefix": prefix, "description": description or f"{prefix or 'default'} virtual proxy",
                "sessionCookieHeaderName": session_cookie_header_name or f"X-Qlik-Session-{prefix}".rstrip("-"),
                "authenticationMethod": authentication_method,
                "jwtPublicKeyCertificate": cert_pem.decode() if isinstance(cert_pem, bytes) else cert_pem or "",
                "jwtAudience": audience, "jwtAttributeUserId": userid_claim, "jwtAttributeUserDirectory": userdir_claim,
                "jwtAttributeMap": [dict(item) for item in attribute_map],
                "loadBalancingServerNodes": [{"id": self.central_node["id"]}] if load_balancing else [],
                "websocketCrossOriginWhiteList": ["127.0.0.1", "localhost"]}
        with self._lock:
            try:
                vp = self._create_vp(body)
            except HttpError as exc:
                raise ValueError(exc.message) from exc
            if linked:
                self._central_proxy_service()["settings"]["virtualProxies"].append(vp["id"])
            return copy.deepcopy(vp)

    def add_admin(self, directory: str, user_id: str) -> None:
        """Make ``directory\\user_id`` a RootAdmin (and a QRS user)."""
        with self._lock:
            self._admins.add((directory, user_id))
            self._user(directory, user_id)["roles"] = ["RootAdmin"]

    def add_app(self, name: str, *, stream: str | None = None) -> Entity:
        """Add an app (published to ``stream`` when given); returns the full App entity."""
        with self._lock:
            self._apps.append(qrs.app(name, stream, self._stamps.next()))
            return copy.deepcopy(self._apps[-1])

    def add_rim_node(self, name: str = "Rim1", host_name: str = "qlikserver2.domain.local") -> Entity:
        """Add a rim node, with its own proxy service; returns the ServerNodeConfiguration."""
        with self._lock:
            return copy.deepcopy(self._add_node(name, host_name, central=False))

    def add_deployment(self, name: str, service_url: str) -> hds.Deployment:
        """Add an HDS deployment as ``POST /api/hds/v1/Deployments`` does (audience ``qlik.api``, local bearer
        token); returns it. ``ValueError`` if invalid, or if the name is taken."""
        body = {"name": name, "audience": hds.AUDIENCE, "serviceUrl": service_url, "localBearerToken": True}
        with self._lock:
            try:
                return self._hds.create(body)
            except hds.HdsError as exc:
                raise ValueError(exc.detail) from exc

    def set_bearer_token_format(self, token_format: str) -> None:
        """How ``elastictokenconfig`` answers: ``"json-string"`` (the default: ``application/json``, the body a
        JSON string literal) or ``"text"`` (``text/plain``, the bare base64)."""
        with self._lock:
            self._hds.set_token_format(token_format)

    def disable_hds(self) -> None:
        """Emulate a server without the HDS: every ``/api/hds/...`` path is then the proxy's 404 page."""
        with self._lock:
            self._hds.enabled = False

    def bump_modified_date_on_next_put(self, entity_id: str) -> None:
        """Make the next PUT of this VirtualProxyConfig or ProxyService meet a newer ``modifiedDate`` (a 409)."""
        with self._lock:
            self._bump_on_put.add(entity_id)

    # --- the proxy ---------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """Route ``/<prefix>/...`` to its virtual proxy (or the one with the empty prefix); ``None`` if none."""
        with self._lock:
            found = self._resolve(request.path)
            if found is None:
                return None
            vp, rest = found
            return self._unavailable(vp) or self._through(vp, rest, request)

    def _resolve(self, path: str) -> tuple[Entity, str] | None:
        first, _, rest = path.lstrip("/").partition("/")
        by_prefix = {vp["prefix"]: vp for vp in self._vps.values()}
        if first and first in by_prefix:
            return by_prefix[first], f"/{rest}"
        if "" in by_prefix:
            return by_prefix[""], path
        return None

    def _unavailable(self, vp: Entity) -> Response | None:
        """The 503 page of a virtual proxy that no proxy service serves, or that has no engine node."""
        if not any(vp["id"] in service["settings"]["virtualProxies"] for service in self._proxy_services.values()):
            return Response.page(503, "Service Unavailable", "The virtual proxy is not linked to a proxy service.")
        if not vp["loadBalancingServerNodes"]:
            return Response.page(503, "Service Unavailable", ENGINE_UNAVAILABLE)
        return None

    def _through(self, vp: Entity, rest: str, request: Request) -> Response:
        if vp["authenticationMethod"] != AUTH_JWT:
            return _windows_authentication(vp, rest)
        outcome = self._authenticate(vp, request)
        if isinstance(outcome, Response):
            return outcome
        session, set_cookie = outcome
        response = self._serve(session, rest, request)
        if set_cookie:
            response.headers.append(("Set-Cookie", set_cookie))
        return response

    def _authenticate(self, vp: Entity, request: Request) -> tuple[Session, str | None] | Response:
        """The session of the request's cookie; else a new one for its JWT (and the Set-Cookie); else a 401."""
        name = _cookie_name(vp, request.scheme)
        sent = request.cookies.get(name)
        session = self._sessions.get(sent or "")
        if session is not None and session.vp_id == vp["id"]:
            return session, None
        try:
            identity = verify(_bearer_token(request, sent), vp, time.time())
        except Refused as refused:
            self._auth_failures.append(refused.reason)
            return Response.page(401, "Authentication failed", "The request could not be authenticated.")
        if self._session_count(identity) >= MAX_SESSIONS_PER_USER:
            self._auth_failures.append("too many sessions")
            return Response.page(429, "Too many sessions", TOO_MANY_SESSIONS)
        session = self._new_session(vp, identity)
        return session, f"{name}={session.id}; Path=/; HttpOnly" + ("; Secure" if request.scheme == "https" else "")

    def _session_count(self, identity: Identity) -> int:
        user = (identity.user_directory, identity.user_id)
        return sum((s.user_directory, s.user_id) == user for s in self._sessions.values())

    def _new_session(self, vp: Entity, identity: Identity) -> Session:
        session = Session(id=str(uuid.uuid4()), vp_id=vp["id"], user_directory=identity.user_directory,
                          user_id=identity.user_id, attributes=identity.attributes)
        self._sessions[session.id] = session
        self._user(identity.user_directory, identity.user_id)
        return session

    def _serve(self, session: Session, rest: str, request: Request) -> Response:
        path = rest.lower()
        if path == "/qrs" or path.startswith("/qrs/"):
            return self._qrs(session, rest, request)
        if path == "/qps/user" and request.method == "DELETE":  # the hub's log out: this session ends
            del self._sessions[session.id]
            self._logouts.append(session.id)
            return Response.json({"session": session.id, "userDirectory": session.user_directory,
                                  "userId": session.user_id})
        if self._hds.enabled and hds.is_hds_path(rest):  # no xrfkey: the public script sends none
            return self._hds.handle(request, rest, admin=self._is_admin(session))
        if path in ("", "/") or path.startswith("/hub"):
            return Response(200, b"<html><head><title>Qlik Sense Hub</title></head><body></body></html>",
                            "text/html; charset=utf-8")
        return Response.page(404, "Not Found", "The requested resource was not found.")

    # --- the QRS -----------------------------------------------------------------------------------------

    def _qrs(self, session: Session, path: str, request: Request) -> Response:
        xrfkey = _valid_xrfkey(request)
        if xrfkey is None:
            return Response.text(403, XRFKEY_FAILED)
        self._xrfkeys.append(xrfkey)
        call = _Call(request, session, self._is_admin(session))
        try:
            response = self._router.dispatch(request.method, path, call)
        except HttpError as exc:
            return exc.response
        return response or Response.text(404, "Not Found")

    def _qrs_routes(self) -> Router[_Call]:
        router: Router[_Call] = Router()
        anyone: list[tuple[str, str, Handler[_Call]]] = [
            ("GET", "/qrs/about", lambda _call, _params: Response.json(qrs.ABOUT)),
            ("GET", "/qrs/app", self._lister(lambda _call: self._apps, qrs.APP_CONDENSED)),
            ("GET", "/qrs/app/full", self._lister(lambda _call: self._apps)),
            ("GET", "/qrs/user", self._lister(self._visible_users, qrs.USER_CONDENSED)),
            ("GET", "/qrs/user/full", self._lister(self._visible_users)),
        ]
        admins: list[tuple[str, str, Handler[_Call]]] = [
            ("GET", "/qrs/servernodeconfiguration", self._lister(lambda _call: self._nodes.values(),
                                                                 qrs.NODE_CONDENSED)),
            ("GET", "/qrs/servernodeconfiguration/full", self._lister(lambda _call: self._nodes.values())),
            ("GET", "/qrs/virtualproxyconfig", self._lister(lambda _call: self._vps.values(), qrs.VP_CONDENSED)),
            ("GET", "/qrs/virtualproxyconfig/full", self._lister(lambda _call: self._vps.values())),
            ("POST", "/qrs/virtualproxyconfig", self._post_vp),
            ("GET", "/qrs/virtualproxyconfig/{id}", self._get_vp),
            ("PUT", "/qrs/virtualproxyconfig/{id}", self._put_vp),
            ("DELETE", "/qrs/virtualproxyconfig/{id}", self._delete_vp),
            ("GET", "/qrs/proxyservice", self._lister(self._rendered_proxy_services, qrs.PROXY_SERVICE_CONDENSED)),
            ("GET", "/qrs/proxyservice/full", self._lister(self._rendered_proxy_services)),
            ("GET", "/qrs/proxyservice/local", self._get_local_proxy_service),
            ("GET", "/qrs/proxyservice/{id}", self._get_proxy_service),
            ("PUT", "/qrs/proxyservice/{id}", self._put_proxy_service),
        ]
        for method, pattern, handler in anyone:
            router.add(method, pattern, handler)
        for method, pattern, handler in admins:
            router.add(method, pattern, _admins_only(handler))
        return router

    def _lister(self, source: Callable[[_Call], Iterable[Entity]],
                fields: Sequence[str] | None = None) -> Handler[_Call]:
        """A GET handler for a list of entities, condensed to ``fields`` (else full), after the ``filter``."""
        def handler(call: _Call, _params: dict[str, str]) -> Response:
            entities = qrs.filtered(source(call), call.param("filter"))
            return Response.json([qrs.condensed(entity, fields or entity) for entity in entities])
        return handler

    def _visible_users(self, call: _Call) -> list[Entity]:
        """All users for an administrator; only themselves for anyone else."""
        own = (call.session.user_directory, call.session.user_id)
        return [entity for key, entity in self._users.items() if call.admin or key == own]

    def _rendered_proxy_services(self, _call: _Call) -> list[Entity]:
        return [qrs.render_proxy_service(service, self._vps) for service in self._proxy_services.values()]

    def _post_vp(self, call: _Call, _params: dict[str, str]) -> Response:
        return Response.json(copy.deepcopy(self._create_vp(call.request.json())), 201)

    def _get_vp(self, _call: _Call, params: dict[str, str]) -> Response:
        return Response.json(copy.deepcopy(_entity(self._vps, params["id"])))

    def _put_vp(self, call: _Call, params: dict[str, str]) -> Response:
        current = _entity(self._vps, params["id"])
        body = call.request.json()
        qrs.check_put(self._raced(current), body)
        others = [vp for vp in self._vps.values() if vp["id"] != current["id"]]
        updated = qrs.virtual_proxy(body, current=current, others=others, nodes=self._nodes,
                                    stamp=self._stamps.next())
        self._vps[current["id"]] = updated
        return Response.json(copy.deepcopy(updated))

    def _delete_vp(self, _call: _Call, params: dict[str, str]) -> Response:
        vp_id = _entity(self._vps, params["id"])["id"]
        del self._vps[vp_id]
        for service in self._proxy_services.values():
            if vp_id in service["settings"]["virtualProxies"]:
                service["settings"]["virtualProxies"].remove(vp_id)
                service["modifiedDate"] = self._stamps.next()
        self._sessions = {key: s for key, s in self._sessions.items() if s.vp_id != vp_id}
        return Response(204)

    def _get_local_proxy_service(self, _call: _Call, _params: dict[str, str]) -> Response:
        return Response.json(qrs.render_proxy_service(self._central_proxy_service(), self._vps))

    def _get_proxy_service(self, _call: _Call, params: dict[str, str]) -> Response:
        return Response.json(qrs.render_proxy_service(_entity(self._proxy_services, params["id"]), self._vps))

    def _put_proxy_service(self, call: _Call, params: dict[str, str]) -> Response:
        current = self._raced(_entity(self._proxy_services, params["id"]))
        body = call.request.json()
        qrs.check_put(qrs.render_proxy_service(current, self._vps), body)
        updated = qrs.updated_proxy_service(current, body, self._vps, self._stamps.next())
        self._proxy_services[current["id"]] = updated
        return Response.json(qrs.render_proxy_service(updated, self._vps))

    # --- state helpers (called with the lock held) -------------------------------------------------------

    def _is_admin(self, session: Session) -> bool:
        return (session.user_directory, session.user_id) in self._admins

    def _create_vp(self, body: Any) -> Entity:
        vp = qrs.virtual_proxy(body, current=None, others=self._vps.values(), nodes=self._nodes,
                               stamp=self._stamps.next())
        self._vps[vp["id"]] = vp
        return vp

    def _raced(self, entity: Entity) -> Entity:
        """``entity``, modified meanwhile by "someone else" if a test asked for that."""
        if entity["id"] in self._bump_on_put:
            self._bump_on_put.discard(entity["id"])
            entity["modifiedDate"] = self._stamps.next()
        return entity

    def _add_node(self, name: str, host_name: str, *, central: bool) -> Entity:
        stamp = self._stamps.next()
        node = qrs.server_node(name, host_name, central=central, stamp=stamp)
        service = qrs.proxy_service(node, stamp)
        self._nodes[node["id"]] = node
        self._proxy_services[service["id"]] = service
        return node

    def _central_proxy_service(self) -> Entity:
        central_id = self.central_node["id"]
        return next(s for s in self._proxy_services.values() if s["serverNodeConfiguration"]["id"] == central_id)

    def _vp_by_prefix(self, prefix: str) -> Entity:
        try:
            return next(vp for vp in self._vps.values() if vp["prefix"] == prefix)
        except StopIteration:
            raise KeyError(f"no virtual proxy with the prefix {prefix!r}") from None

    def _user(self, directory: str, user_id: str) -> Entity:
        """The QRS user, created on first sight (as a first login creates it)."""
        key = (directory, user_id)
        if key not in self._users:
            self._users[key] = qrs.user(directory, user_id, self._stamps.next())
        return self._users[key]


def _admins_only(handler: Handler[_Call]) -> Handler[_Call]:
    def guarded(call: _Call, params: dict[str, str]) -> Response:
        return handler(call, params) if call.admin else Response.text(403, "Forbidden")
    return guarded


def _entity(entities: Mapping[str, Entity], entity_id: str) -> Entity:
    entity = entities.get(entity_id.lower())
    if entity is None:
        raise HttpError(404, f"No entity with id {entity_id}")
    return entity


def _cookie_name(vp: Entity, scheme: str) -> str:
    """The session cookie's name: the virtual proxy's, with ``-HTTP`` appended over plain HTTP."""
    name: str = vp["sessionCookieHeaderName"]
    return name if scheme == "https" else f"{name}-HTTP"


def _bearer_token(request: Request, sent_cookie: str | None) -> str:
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise Refused("unknown session" if sent_cookie else "no token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused("authorization not Bearer")
    return token.strip()


def _valid_xrfkey(request: Request) -> str | None:
    """The xrfkey if query parameter (any case) and ``X-Qlik-Xrfkey`` header agree on 16 letters/digits."""
    in_query = [value for name, value in request.query_items if name.lower() == "xrfkey"]
    in_header = request.headers.get("x-qlik-xrfkey")
    if len(in_query) == 1 and in_header == in_query[0] and XRFKEY.fullmatch(in_header):
        return in_header
    return None


def _windows_authentication(vp: Entity, rest: str) -> Response:
    """What a non-JWT (ticket/Windows) virtual proxy does without a session: redirect, then ask for NTLM."""
    base = f"/{vp['prefix']}" if vp["prefix"] else ""
    if rest.lower().startswith("/internal_windows_authentication"):
        return Response(401, b"", headers=[("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
    location = f"{base}/internal_windows_authentication/?targetId={uuid.uuid4()}"
    return Response(302, b"", headers=[("Location", location)])
