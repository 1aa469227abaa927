"""The QRS entities of the emulated QSEoW (VirtualProxyConfig, ProxyService, ServerNodeConfiguration, App,
User), their validation on POST and PUT, and the QRS ``filter`` query parameter.

Entities are plain dicts shaped like the QRS JSON. Invalid input raises :class:`HttpError` (400, or 409 for a
stale ``modifiedDate``), with a plain-text message.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .qseow_jwt import load_certificate
from .server import HttpError

Entity = dict[str, Any]

AUTH_TICKET, AUTH_JWT = 0, 4
AUTH_METHODS = range(6)  # 0 Ticket, 1 static header, 2 dynamic header, 3 SAML, 4 JWT, 5 OIDC
PREFIX = re.compile(r"[a-z0-9\-._~]*")
COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP token

ABOUT: Entity = {"buildVersion": "30.4.0.0", "buildDate": "9/20/2013 10:09:00 AM",
                 "databaseProvider": "Devart.Data.PostgreSql", "nodeType": 1, "sharedPersistence": True,
                 "requiresBootstrap": False, "singleNodeOnly": False, "schemaPath": "About"}

VP_CONDENSED = ("id", "prefix", "description", "authenticationMethod", "sessionCookieHeaderName")
NODE_CONDENSED = ("id", "name", "hostName", "isCentral")
APP_CONDENSED = ("id", "name", "appId", "publishTime", "published", "stream", "savedInProductVersion",
                 "availabilityStatus", "privileges")
USER_CONDENSED = ("id", "userId", "userDirectory", "name", "privileges")
PROXY_SERVICE_CONDENSED = ("id", "privileges")

_VP_DEFAULTS: Entity = {
    "description": "", "authenticationMethod": AUTH_TICKET, "jwtPublicKeyCertificate": "", "jwtAudience": "",
    "jwtAttributeUserId": "", "jwtAttributeUserDirectory": "", "jwtAttributeMap": [],
    "loadBalancingServerNodes": [], "websocketCrossOriginWhiteList": [], "sessionInactivityTimeout": 30,
    "sessionCookieDomain": "", "additionalResponseHeaders": "", "anonymousAccessMode": 0,
    "customProperties": [], "tags": [], "privileges": None,
}
_VP_REQUIRED = ("prefix", "description", "sessionCookieHeaderName")


class Stamps:
    """QRS timestamps (ISO 8601, milliseconds, ``Z``), strictly increasing: every write gets a new one."""

    def __init__(self) -> None:
        self._last_ms = 0

    def next(self) -> str:
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        moment = dt.datetime.fromtimestamp(self._last_ms / 1000, dt.UTC)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{self._last_ms % 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def condensed(entity: Mapping[str, Any], fields: Iterable[str]) -> Entity:
    return {name: copy.deepcopy(entity[name]) for name in fields}


# --- VirtualProxyConfig ------------------------------------------------------------------------------------

def virtual_proxy(body: Any, *, current: Entity | None, others: Iterable[Entity], nodes: Mapping[str, Entity],
                  stamp: str) -> Entity:
    """The VirtualProxyConfig that a POST body (``current`` None) or a PUT body makes; 400 when invalid.

    Missing properties get their defaults (a POST needs at least prefix, description, sessionCookieHeaderName);
    properties the emulator does not know are kept as given.
    """
    if not isinstance(body, dict):
        raise HttpError(400, "A VirtualProxyConfig must be a JSON object")
    missing = [name for name in _VP_REQUIRED if name not in body]
    if missing:
        raise HttpError(400, f"VirtualProxyConfig: missing required properties: {', '.join(missing)}")
    entity = {**copy.deepcopy(_VP_DEFAULTS), **copy.deepcopy(body)}
    entity.update(id=current["id"] if current else new_id(), createdDate=current["createdDate"] if current else stamp,
                  modifiedDate=stamp, schemaPath="VirtualProxyConfig")
    _check_names(entity, list(others))
    _check_authentication(entity)
    _check_lists(entity)
    entity["loadBalancingServerNodes"] = [_node_reference(item, nodes) for item in entity["loadBalancingServerNodes"]]
    entity["jwtAttributeMap"] = [_attribute_map_item(item, stamp) for item in entity["jwtAttributeMap"]]
    return entity


def _check_names(vp: Entity, others: list[Entity]) -> None:
    prefix, cookie, description = vp["prefix"], vp["sessionCookieHeaderName"], vp["description"]
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        raise HttpError(400, f"Invalid prefix {prefix!r}: lower-case letters, digits and - . _ ~ only")
    if not isinstance(cookie, str) or not COOKIE_NAME.fullmatch(cookie):
        raise HttpError(400, f"Invalid sessionCookieHeaderName {cookie!r}")
    if not isinstance(description, str) or not description:
        raise HttpError(400, "description must be a non-empty string")
    if any(other["prefix"] == prefix for other in others):
        raise HttpError(400, f"A virtual proxy with the prefix {prefix!r} already exists")
    if any(other["sessionCookieHeaderName"].lower() == cookie.lower() for other in others):
        raise HttpError(400, f"A virtual proxy with the session cookie header name {cookie!r} already exists")


def _check_authentication(vp: Entity) -> None:
    method = vp["authenticationMethod"]
    if type(method) is not int or method not in AUTH_METHODS:
        raise HttpError(400, f"Invalid authenticationMethod {method!r}")
    if not isinstance(vp["jwtAudience"], str):
        raise HttpError(400, "jwtAudience must be a string")
    if method != AUTH_JWT:
        return
    for name in ("jwtAttributeUserId", "jwtAttributeUserDirectory"):
        if not isinstance(vp[name], str) or not vp[name]:
            raise HttpError(400, f"{name} is required for JWT authentication")
    certificate = vp["jwtPublicKeyCertificate"]
    try:
        load_certificate(certificate if isinstance(certificate, str) else "")
    except ValueError as exc:
        raise HttpError(400, f"jwtPublicKeyCertificate is not a PEM X.509 certificate: {exc}") from exc


def _check_lists(vp: Entity) -> None:
    for name in ("jwtAttributeMap", "loadBalancingServerNodes"):
        if not isinstance(vp[name], list) or not all(isinstance(item, dict) for item in vp[name]):
            raise HttpError(400, f"{name} must be a list of objects")
    hosts = vp["websocketCrossOriginWhiteList"]
    if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
        raise HttpError(400, "websocketCrossOriginWhiteList must be a list of strings")
    timeout = vp["sessionInactivityTimeout"]
    if type(timeout) is not int or timeout < 1:
        raise HttpError(400, "sessionInactivityTimeout must be a positive integer (minutes)")


def _node_reference(item: Entity, nodes: Mapping[str, Entity]) -> Entity:
    node_id = item.get("id")
    node = nodes.get(node_id) if isinstance(node_id, str) else None
    if node is None:
        raise HttpError(400, f"loadBalancingServerNodes: no server node with id {node_id!r}")
    return condensed(node, ("id", "name", "hostName"))


def _attribute_map_item(item: Entity, stamp: str) -> Entity:
    for name in ("jwtAttribute", "senseAttribute"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise HttpError(400, f"jwtAttributeMap: {name} must be a non-empty string")
    if not isinstance(item.get("isMandatory", False), bool):
        raise HttpError(400, "jwtAttributeMap: isMandatory must be a boolean")
    return {"id": new_id(), "createdDate": stamp, "modifiedDate": stamp, "isMandatory": False, **item,
            "schemaPath": "VirtualProxyConfigJwtAttributeMapItem"}


# --- PUT: the full entity, with the current modifiedDate -----------------------------------------------------

def check_put(current: Mapping[str, Any], body: Any) -> None:
    """A PUT body must be the full entity (as GET returns it) with its id and the current ``modifiedDate``."""
    if not isinstance(body, dict):
        raise HttpError(400, "The body must be the entity, as a JSON object")
    if body.get("id") != current["id"]:
        raise HttpError(400, "The id in the body must be the id in the path")
    if "modifiedDate" not in body:
        raise HttpError(400, "modifiedDate is required to update an entity")
    if body["modifiedDate"] != current["modifiedDate"]:
        raise HttpError(409, f"Conflict: the entity was modified at {current['modifiedDate']}, "
                             f"the request was based on {body['modifiedDate']}; GET it again")
    missing = sorted(set(current) - set(body))
    if missing:
        raise HttpError(400, f"PUT needs the full entity (GET it first); missing: {', '.join(missing)}")


# --- ServerNodeConfiguration, ProxyService -------------------------------------------------------------------

def server_node(name: str, host_name: str, *, central: bool, stamp: str) -> Entity:
    return {"id": new_id(), "name": name, "hostName": host_name, "isCentral": central, "nodePurpose": 0,
            "createdDate": stamp, "modifiedDate": stamp, "privileges": None, "schemaPath": "ServerNodeConfiguration"}


def proxy_service(node: Entity, stamp: str) -> Entity:
    """A proxy service as stored: ``settings.virtualProxies`` holds the linked VirtualProxyConfig ids."""
    settings = {"id": new_id(), "createdDate": stamp, "modifiedDate": stamp, "listenPort": 443, "allowHttp": False,
                "unencryptedListenPort": 80, "authenticationListenPort": 4244, "kerberosAuthentication": False,
                "unencryptedAuthenticationListenPort": 4248, "keepAliveTimeoutSeconds": 10,
                "maxHeaderSizeBytes": 16384, "maxHeaderLines": 100, "restListenPort": 4243, "virtualProxies": [],
                "schemaPath": "ProxyServiceSettings"}
    return {"id": new_id(), "createdDate": stamp, "modifiedDate": stamp,
            "modifiedByUserName": "INTERNAL\\sa_repository", "settings": settings,
            "serverNodeConfiguration": condensed(node, ("id", "name", "hostName")),
            "customProperties": [], "tags": [], "privileges": None, "schemaPath": "ProxyService"}


def render_proxy_service(service: Entity, vps: Mapping[str, Entity]) -> Entity:
    """The proxy service as the QRS returns it: each linked virtual proxy as a condensed VirtualProxyConfig."""
    rendered = copy.deepcopy(service)
    rendered["settings"]["virtualProxies"] = [condensed(vps[vp_id], VP_CONDENSED)
                                              for vp_id in service["settings"]["virtualProxies"]]
    return rendered


def updated_proxy_service(current: Entity, body: Entity, vps: Mapping[str, Entity], stamp: str) -> Entity:
    """The stored proxy service after a PUT of ``body`` (already checked by :func:`check_put`)."""
    settings = body.get("settings")
    if not isinstance(settings, dict) or not isinstance(settings.get("virtualProxies"), list):
        raise HttpError(400, "settings.virtualProxies must be a list of {\"id\": ...} objects")
    linked = []
    for item in settings["virtualProxies"]:
        vp_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(vp_id, str) or vp_id not in vps:
            raise HttpError(400, f"settings.virtualProxies: no virtual proxy with id {vp_id!r}")
        if vp_id not in linked:
            linked.append(vp_id)
    new_settings = {**current["settings"], **copy.deepcopy(settings), "id": current["settings"]["id"],
                    "modifiedDate": stamp, "virtualProxies": linked}
    return {**copy.deepcopy(current), "settings": new_settings, "modifiedDate": stamp}


# --- App, User ---------------------------------------------------------------------------------------------

def app(name: str, stream: str | None, stamp: str) -> Entity:
    return {"id": new_id(), "name": name, "appId": "", "publishTime": stamp if stream else "1753-01-01T00:00:00.000Z",
            "published": stream is not None, "stream": {"id": new_id(), "name": stream} if stream else None,
            "savedInProductVersion": "14.187.4", "availabilityStatus": 0, "privileges": None, "createdDate": stamp,
            "modifiedDate": stamp, "description": "", "fileSize": 0, "lastReloadTime": stamp, "tags": [],
            "customProperties": [], "owner": {"id": new_id(), "userId": "sa_repository", "userDirectory": "INTERNAL",
                                              "name": "sa_repository"}, "schemaPath": "App"}


def user(directory: str, user_id: str, stamp: str) -> Entity:
    return {"id": new_id(), "userId": user_id, "userDirectory": directory, "name": user_id, "roles": [],
            "inactive": False, "removedExternally": False,
            "blacklisted": False, "deleteProhibited": False, "createdDate": stamp, "modifiedDate": stamp,
            "privileges": None, "schemaPath": "User"}


# --- the filter query parameter: `field eq 'value' and other ne 4` -------------------------------------------

_CONDITION = re.compile(r"\s*([A-Za-z_][\w.]*)\s+(eq|ne)\s+('(?:[^']|'')*'|true|false|null|-?\d+(?:\.\d+)?)\s*",
                        re.IGNORECASE)
_AND = re.compile(r"and\s", re.IGNORECASE)
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


def filtered(entities: Iterable[Entity], expression: str | None) -> list[Entity]:
    """The entities that match a QRS filter (``eq``/``ne`` conditions joined by ``and``; the subset emulated)."""
    conditions = _parse_filter(expression) if expression else []
    return [entity for entity in entities
            if all((_field(entity, path) == value) == (op == "eq") for path, op, value in conditions)]


def _parse_filter(expression: str) -> list[tuple[str, str, Any]]:
    conditions, position = [], 0
    while True:
        match = _CONDITION.match(expression, position)
        if match is None:
            raise HttpError(400, f"Cannot parse the expression: {expression}")
        path, op, literal = match.groups()
        conditions.append((path, op.lower(), _literal(literal)))
        position = match.end()
        if position == len(expression):
            return conditions
        joint = _AND.match(expression, position)
        if joint is None:
            raise HttpError(400, f"Cannot parse the expression: {expression}")
        position = joint.end()


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.lower() in _LITERALS:
        return _LITERALS[text.lower()]
    return float(text) if "." in text else int(text)


def _field(entity: Any, path: str) -> Any:
    """A (dotted) property, names matched case-insensitively; ``None`` when absent."""
    for name in path.split("."):
        if not isinstance(entity, dict):
            return None
        entity = next((value for key, value in entity.items() if key.lower() == name.lower()), None)
    return entity
