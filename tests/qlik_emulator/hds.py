"""The Hybrid Deployment Service (HDS) of the emulated QSEoW: cloud-distribution deployments, and the local bearer
token of each in "Qlik Cloud format" (spec C.3; the forum post in ``shared/seeds/004``). The QSEoW proxy
(:mod:`.qseow`) authenticates the request and hands ``/api/hds/...`` here, with no xrfkey check.

The token is base64 (standard alphabet, padded) of the compact JSON ``{"issuerConfig": {"issuer":
"https://qlik.<site uuid>"}, "primary": false, "realm": "custom", "hostname": <serviceUrl without its scheme>,
"staticKeys": [{"kid": "qlik-<site uuid>", "pem": <the site's RSA public key, on one line>}]}``: only
``hostname`` depends on the deployment; issuer, kid and key are the site's (the decoded layout is UNCONFIRMED in
the spec, H.10; this is the forum post's). Validation is the strict reading; errors are JSON
``{"status", "title", "detail"}`` (the real service's error shape is not documented).
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .server import Handler, Request, Response, Router

API_ROOT = "/api/hds"
AUDIENCE = "qlik.api"
#: how ``elastictokenconfig`` answers: a JSON string literal (application/json), or the bare base64 (text/plain)
TokenFormat = Literal["json-string", "text"]
TOKEN_FORMATS: tuple[TokenFormat, ...] = ("json-string", "text")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: ``https://host`` or ``https://host:port``: no user, path (not even ``/``), query or fragment
SERVICE_URL = re.compile(rf"https://{_LABEL}(?:\.{_LABEL})*(?::(?P<port>[0-9]{{1,5}}))?")
REQUIRED_FIELDS = ("name", "audience", "serviceUrl", "localBearerToken")
#: fields of the QMC's own SaveDeployment that a local-bearer-token deployment may carry, empty
EMPTY_FIELDS = ("authenticationUrl", "clientId", "clientSecret")
QCS_FORMAT_NEEDED = "The token is available in Qlik Cloud format only: add the query parameter qcsFormat=True"

Deployment = dict[str, Any]


@functools.cache
def site_key() -> rsa.RSAPrivateKey:
    """The RSA key of the emulated QSEoW site: made once per process (every emulator shares it; each has its own
    site uuid)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def one_line_pem(key: rsa.RSAPublicKey) -> str:
    """``-----BEGIN PUBLIC KEY-----MIIB...-----END PUBLIC KEY-----``: the SPKI PEM without its line breaks."""
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "".join(pem.decode().splitlines())


def encode_bearer_token(config: Mapping[str, Any]) -> str:
    """The token of a decoded configuration: base64 (standard, padded) of its compact JSON."""
    return base64.b64encode(json.dumps(config, separators=(",", ":")).encode()).decode()


def decode_bearer_token(b64: str | bytes) -> dict[str, Any]:
    """The JSON object inside a local bearer token (for tests): strict base64, then JSON; ``ValueError`` else."""
    data = base64.b64decode(b64, validate=True)
    decoded = json.loads(data)
    if not isinstance(decoded, dict):
        raise ValueError("the bearer token does not hold a JSON object")
    return decoded


class HdsError(Exception):
    """A refusal, answered as JSON ``{"status", "title", "detail"}``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    @property
    def response(self) -> Response:
        return error(self.status, self.detail)


def error(status: int, detail: str) -> Response:
    return Response.json({"status": status, "title": HTTPStatus(status).phrase, "detail": detail}, status)


@dataclass(frozen=True)
class _Call:
    request: Request

    def param(self, name: str) -> str | None:
        """A query parameter, its name matched case-insensitively (as ASP.NET binds them)."""
        return next((value for key, value in self.request.query_items if key.lower() == name.lower()), None)


class Hds:
    """The HDS state of one QSEoW emulator; not thread-safe (the emulator calls it with its lock held)."""

    def __init__(self) -> None:
        self.site_id = str(uuid.uuid4())
        self.site_public_pem = one_line_pem(site_key().public_key())
        self.enabled = True
        self.token_format: TokenFormat = "json-string"
        self._deployments: dict[str, Deployment] = {}
        self._router = self._routes()

    @property
    def site_issuer(self) -> str:
        return f"https://qlik.{self.site_id}"

    @property
    def site_kid(self) -> str:
        return f"qlik-{self.site_id}"

    @property
    def deployments(self) -> list[Deployment]:
        """Copies, in creation order."""
        return copy.deepcopy(list(self._deployments.values()))

    def set_token_format(self, token_format: str) -> None:
        if token_format not in TOKEN_FORMATS:
            raise ValueError(f"the bearer token format must be one of {', '.join(TOKEN_FORMATS)}")
        self.token_format = next(known for known in TOKEN_FORMATS if known == token_format)

    def create(self, body: Any) -> Deployment:
        """Validate a ``POST .../Deployments`` body and store the deployment; :class:`HdsError` if refused."""
        deployment = _deployment(body)
        taken = {existing["name"].casefold() for existing in self._deployments.values()}
        if deployment["name"].casefold() in taken:
            raise HdsError(409, f"A deployment named {deployment['name']!r} exists already")
        self._deployments[deployment["id"]] = deployment
        return copy.deepcopy(deployment)

    def token_config(self, deployment: Deployment) -> dict[str, Any]:
        """The decoded local bearer token of ``deployment``."""
        return {"issuerConfig": {"issuer": self.site_issuer}, "primary": False, "realm": "custom",
                "hostname": urlsplit(deployment["serviceUrl"]).netloc,
                "staticKeys": [{"kid": self.site_kid, "pem": self.site_public_pem}]}

    # --- the API ---------------------------------------------------------------------------------------------

    def handle(self, request: Request, path: str, *, admin: bool) -> Response:
        """Answer ``/api/hds/...`` (``path`` without the virtual proxy prefix) for an authenticated user."""
        if not admin:
            return error(403, "Only administrators may manage cloud-distribution deployments")
        try:
            response = self._router.dispatch(request.method, path, _Call(request))
        except HdsError as exc:
            return exc.response
        if response is None:
            return error(404, f"No HDS endpoint at {path}")
        if response.status == 405:  # the router's plain-text answer, as JSON
            refusal = error(405, f"{path} does not take {request.method}")
            refusal.headers.extend(response.headers)
            return refusal
        return response

    def _routes(self) -> Router[_Call]:
        router: Router[_Call] = Router()
        routes: list[tuple[str, str, Handler[_Call]]] = [
            ("GET", "/api/hds/v1/Deployments", lambda _call, _params: Response.json(self.deployments)),
            ("POST", "/api/hds/v1/Deployments", lambda call, _params: Response.json(
                self.create(_json(call.request)), 201)),
            ("GET", "/api/hds/v1/Deployments/{id}", lambda _call, params: Response.json(
                copy.deepcopy(self._deployment(params["id"])))),
            ("DELETE", "/api/hds/v1/Deployments/{id}", self._delete),
            ("GET", "/api/hds/v1/Deployments/{id}/elastictokenconfig", self._token),
        ]
        for method, pattern, handler in routes:
            router.add(method, pattern, handler)
        return router

    def _delete(self, _call: _Call, params: dict[str, str]) -> Response:
        del self._deployments[self._deployment(params["id"])["id"]]
        return Response(204)

    def _token(self, call: _Call, params: dict[str, str]) -> Response:
        deployment = self._deployment(params["id"])
        if (call.param("qcsFormat") or "").lower() != "true":
            raise HdsError(400, QCS_FORMAT_NEEDED)
        token = encode_bearer_token(self.token_config(deployment))
        if self.token_format == "text":
            return Response(200, token.encode(), "text/plain; charset=utf-8")
        return Response.json(token)

    def _deployment(self, deployment_id: str) -> Deployment:
        deployment = self._deployments.get(deployment_id.lower())
        if deployment is None:
            raise HdsError(404, f"No deployment with the id {deployment_id}")
        return deployment


def _json(request: Request) -> Any:
    try:
        return json.loads(request.body)
    except ValueError as exc:
        raise HdsError(400, f"The request body is not valid JSON: {exc}") from exc


def _deployment(body: Any) -> Deployment:
    """The new deployment of a create body, validated strictly; :class:`HdsError` 400 if invalid."""
    if not isinstance(body, dict):
        raise HdsError(400, "The request body must be a JSON object")
    unknown = sorted(set(body) - {*REQUIRED_FIELDS, *EMPTY_FIELDS})
    if unknown:
        raise HdsError(400, f"Unknown field(s): {', '.join(unknown)}")
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        raise HdsError(400, f"Missing field(s): {', '.join(missing)}")
    name, url = body["name"], body["serviceUrl"]
    if not isinstance(name, str) or not name.strip():
        raise HdsError(400, "name must be a non-empty string")
    if body["audience"] != AUDIENCE:
        raise HdsError(400, f"audience must be {AUDIENCE}")
    match = SERVICE_URL.fullmatch(url) if isinstance(url, str) else None
    if match is None or not 1 <= int(match["port"] or 443) <= 65535:
        raise HdsError(400, "serviceUrl must be https://<host> (a port may follow; no path, not even a trailing "
                            "slash, no query)")
    if body["localBearerToken"] is not True:
        raise HdsError(400, "localBearerToken must be true (only local-bearer-token deployments are emulated)")
    for field in EMPTY_FIELDS:
        if body.get(field, "") != "":
            raise HdsError(400, f"{field} must be empty for a local-bearer-token deployment")
    return {"id": str(uuid.uuid4()), "name": name, "audience": AUDIENCE, "serviceUrl": url,
            "localBearerToken": True, "authenticationUrl": "", "clientId": ""}


def is_hds_path(path: str) -> bool:
    """Whether ``path`` (without the virtual proxy prefix) is the HDS's."""
    lowered = path.lower()
    return lowered == API_ROOT or lowered.startswith(f"{API_ROOT}/")
