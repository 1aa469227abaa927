"""QSEoW through a JWT virtual proxy: Repository Service (QRS) calls with an xrfkey and the proxy's session, and
the JWT virtual proxy built, created, linked and checked from a certificate.

Every request carries a fresh 16-character xrfkey, as the ``xrfkey`` query parameter and the
``X-Qlik-Xrfkey`` header. The first request sends the JWT as ``Authorization: Bearer``; the virtual proxy
answers with its session cookie, and later requests of the same client send only the cookie. This module
imports :mod:`qs_jwt.http` (and httpx) when a client is made, never at ``import qs_jwt``.
"""

from __future__ import annotations

import json as jsonlib
import re
import secrets
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .checks import ERROR, WARNING, CheckReport, Finding
from .errors import ArgumentTypeError, InvalidValueError, KeyLoadError, QlikApiError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.x509 import Certificate

    from .http import HttpClient, HttpResponse, HttpSettings

__all__ = [
    "AUTH_JWT",
    "DEPLOYMENT_AUDIENCE",
    "HDS_PATH",
    "QseowClient",
    "certificate_thumbprint",
    "check_virtual_proxy",
    "describe_certificate_chain",
    "explain_unauthorized",
    "new_xrfkey",
    "qlik_cli_context_command",
    "validate_prefix",
    "virtual_proxy_body",
]

#: ``authenticationMethod`` of a JWT virtual proxy (0 ticket, 1 static header, 2 dynamic header, 3 SAML, 5 OIDC)
AUTH_JWT = 4
_AUTH_NAMES = {0: "Ticket", 1: "Header (static user directory)", 2: "Header (dynamic user directory)", 3: "SAML",
               4: "JWT", 5: "OIDC"}
_XRFKEY_ALPHABET = string.ascii_letters + string.digits
_PREFIX = re.compile(r"[a-z0-9\-._~]+")
#: an HTTP header name (RFC 9110 token): the session cookie header of a virtual proxy is one
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}")
#: the conflict of a PUT with a stale modifiedDate is retried this often, each time after a fresh GET
_CONFLICT_RETRIES = 1
#: the deployments of cloud distribution (the Hybrid Deployment Service), and the audience of their tokens
HDS_PATH = "/api/hds/v1/Deployments"
DEPLOYMENT_AUDIENCE = "qlik.api"


def _deployment_id(value: object) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected text, not {type(value).__name__}", param="deployment_id")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", value):
        raise InvalidValueError("is not a deployment id (letters, digits, - and _)", param="deployment_id")
    return value


def new_xrfkey() -> str:
    """A fresh xrfkey: 16 characters of ``[0-9a-zA-Z]`` from :mod:`secrets`."""
    return "".join(secrets.choice(_XRFKEY_ALPHABET) for _ in range(16))


def validate_prefix(prefix: object) -> str:
    """A virtual proxy prefix: lower-case ``a-z 0-9 - . _ ~``, as the QMC allows."""
    if not isinstance(prefix, str):
        raise ArgumentTypeError(f"expected text, not {type(prefix).__name__}", param="prefix")
    if not _PREFIX.fullmatch(prefix):
        raise InvalidValueError("use lower-case letters, digits and - . _ ~ only (a virtual proxy prefix)",
                                param="prefix")
    return prefix


def _certificate(data: bytes | str | Certificate, passphrase: bytes | str | None) -> Certificate:
    """The X.509 certificate in ``data`` (PEM, DER or PKCS#12): a bare public key is refused."""
    from cryptography import x509

    if isinstance(data, x509.Certificate):
        return data
    from .certs import describe_key_material

    info = describe_key_material(data, source="certificate", passphrase=passphrase)
    if info.certificate is not None and info.key_type != "RSA":
        raise KeyLoadError(f"holds a certificate of {'an' if info.key_type[:1] in 'AEIOU' else 'a'} "
                           f"{info.key_type} key; a JWT virtual proxy verifies RS256/RS384/RS512 signatures, which "
                           "need an RSA key", source="certificate", code="wrong-type")
    if info.certificate is None:
        raise KeyLoadError(f"holds {'a ' + info.kind}, not a certificate: a JWT virtual proxy validates tokens with "
                           "the X.509 certificate (qs-jwt cert create writes publickey.cer)", source="certificate",
                           code="wrong-kind")
    return info.certificate


def _pem(cert: Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _texts(values: Iterable[str], param: str) -> list[str]:
    from .claims import check_text

    return [check_text(value, param=param) for value in values]


def virtual_proxy_body(
    *,
    prefix: str,
    certificate: bytes | str | Certificate,
    passphrase: bytes | str | None = None,
    description: str | None = None,
    session_cookie_header: str | None = None,
    audience: str | None = None,
    userid_claim: str = "userId",
    userdir_claim: str = "userDirectory",
    attributes: Mapping[str, str] | None = None,
    load_balancing_nodes: Sequence[str] = (),
    host_allow_list: Sequence[str] = (),
) -> dict[str, Any]:
    """The QRS ``virtualproxyconfig`` body of a JWT virtual proxy (spec D.3).

    :param certificate: the signer's X.509 certificate (PEM, DER, PKCS#12 or an object); a bare public
        key is refused, since the virtual proxy needs the certificate.
    :param attributes: the JWT attribute mapping: claim name to Qlik Sense attribute name.
    :param load_balancing_nodes: server node ids (the virtual proxy needs at least one to work).
    :param host_allow_list: host names allowed for websocket origins (needed since November 2024).
    """
    from .claims import check_text

    prefix = validate_prefix(prefix)
    cert = _certificate(certificate, passphrase)
    for name, param in ((userid_claim, "userid_claim"), (userdir_claim, "userdir_claim")):
        check_text(name, param=param)
    if userid_claim == userdir_claim:
        raise InvalidValueError("{userid_claim} and {userdir_claim} must differ", param="userid_claim",
                                mentions=("userid_claim", "userdir_claim"))
    mapping = []
    for claim, attribute in (attributes or {}).items():
        mapping.append({"jwtAttribute": check_text(claim, param="attributes"),
                        "senseAttribute": check_text(attribute, param="attributes"), "isMandatory": False})
    body: dict[str, Any] = {
        "prefix": prefix,
        "description": check_text(description, param="description") if description is not None else
        f"JWT authentication (qs-jwt), prefix {prefix}",
        "sessionCookieHeaderName": _header_name(session_cookie_header) if session_cookie_header is not None
        else f"X-Qlik-Session-{prefix}",
        "authenticationMethod": AUTH_JWT,
        "jwtPublicKeyCertificate": _pem(cert),
        "jwtAttributeUserId": userid_claim,
        "jwtAttributeUserDirectory": userdir_claim,
        "jwtAttributeMap": mapping,
        "loadBalancingServerNodes": [{"id": node} for node in _texts(load_balancing_nodes, "load_balancing_nodes")],
        "websocketCrossOriginWhiteList": _texts(host_allow_list, "host_allow_list"),
    }
    if audience is not None:
        body["jwtAudience"] = check_text(audience, param="audience")
    return body


def _header_name(value: object) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"expected text, not {type(value).__name__}", param="session_cookie_header")
    if not _HEADER_NAME.fullmatch(value):
        raise InvalidValueError("use letters, digits and - _ . only (it names a cookie and a header)",
                                param="session_cookie_header")
    return value


def certificate_thumbprint(pem: object) -> str | None:
    """The RFC 7638 thumbprint of the RSA key of a PEM certificate (as a virtual proxy stores it), or None."""
    return _thumbprint_of_pem(pem)


def _thumbprint_of_pem(pem: object) -> str | None:
    from cryptography import x509

    from .keys import jwk_thumbprint

    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        return None
    try:
        public = x509.load_pem_x509_certificate(pem.encode("ascii", "replace")).public_key()
    except ValueError:
        return None
    from cryptography.hazmat.primitives.asymmetric import rsa

    return jwk_thumbprint(public) if isinstance(public, rsa.RSAPublicKey) else None


def check_virtual_proxy(
    virtual_proxy: Mapping[str, Any],
    *,
    public_key: RSAPublicKey | None = None,
    audience: str | None = None,
    userid_claim: str | None = None,
    userdir_claim: str | None = None,
    linked: bool | None = None,
) -> CheckReport:
    """Every reason a virtual proxy would refuse tokens of the local setup (spec D.1, D.3, D.4).

    :param virtual_proxy: the ``virtualproxyconfig`` entity, as QRS returns it.
    :param public_key: the signing key's public half: its certificate must be the virtual proxy's.
    :param audience: the ``aud`` the tokens carry. :param userid_claim: :param userdir_claim: their claim names.
    :param linked: whether a proxy service links the virtual proxy (None: not known).
    """
    from .keys import jwk_thumbprint

    report = CheckReport("virtual-proxy")
    add = report.findings.append
    method = virtual_proxy.get("authenticationMethod")
    if method != AUTH_JWT:
        shown = _AUTH_NAMES.get(method, str(method)) if isinstance(method, int) else str(method)
        add(Finding("authentication", ERROR, f"authentication method: {shown}, not JWT",
                    "set the virtual proxy's authentication method to JWT (qs-jwt qseow virtual-proxy create makes "
                    "one)"))
    thumbprint = _thumbprint_of_pem(virtual_proxy.get("jwtPublicKeyCertificate"))
    if thumbprint is None:
        add(Finding("certificate", ERROR, "certificate: missing or not a readable X.509 RSA certificate",
                    "paste the whole certificate, BEGIN and END lines included (publickey.cer)"))
    elif public_key is not None and thumbprint != jwk_thumbprint(public_key):
        add(Finding("certificate", ERROR, "certificate: not the signing key's (the public keys differ)",
                    "configure the certificate of the key that signs the tokens, or sign with that certificate's "
                    "key"))
    for field, wanted, what in (("jwtAttributeUserId", userid_claim, "user ID"),
                                ("jwtAttributeUserDirectory", userdir_claim, "user directory")):
        report.findings.extend(_claim_name_findings(virtual_proxy.get(field), wanted, what))
    configured = virtual_proxy.get("jwtAudience")
    if audience is not None and configured and configured != audience:
        add(Finding("audience", ERROR, f"audience: the virtual proxy expects {configured!r}, the tokens carry "
                    f"{audience!r}", f"make the tokens with --audience {configured!r}, or change the virtual "
                    "proxy's audience"))
    if not virtual_proxy.get("loadBalancingServerNodes"):
        add(Finding("load-balancing", ERROR, "load balancing: no server node; the virtual proxy cannot serve "
                    "requests", "add a load-balancing node (the central node) to the virtual proxy"))
    if linked is False:
        add(Finding("link", ERROR, "link: no proxy service uses this virtual proxy",
                    "link it to a proxy (QMC: Proxies, Virtual proxies; or qs-jwt qseow virtual-proxy create)"))
    if not virtual_proxy.get("websocketCrossOriginWhiteList"):
        add(Finding("host-allow-list", WARNING, "host allow list: empty; websocket connections (apps) are refused "
                    "since November 2024", "add the host names clients use to the virtual proxy's host allow list"))
    return report


def _claim_name_findings(configured: object, wanted: str | None, what: str) -> Iterator[Finding]:
    if not isinstance(configured, str) or not configured:
        yield Finding(f"{what.replace(' ', '-')}-claim", ERROR, f"JWT attribute for {what}: not set",
                      f"set the virtual proxy's JWT attribute for {what}")
        return
    if wanted is None or wanted == configured:
        return
    case = " (only the case differs: claim names are case-sensitive)" if wanted.lower() == configured.lower() else ""
    flag = "--userid-claim" if what == "user ID" else "--userdir-claim"
    yield Finding(f"{what.replace(' ', '-')}-claim", ERROR, f"JWT attribute for {what}: the virtual proxy reads "
                  f"{configured!r}, the tokens carry {wanted!r}{case}", f"make the tokens with {flag} "
                  f"{configured!r}, or change the virtual proxy's JWT attribute for {what}")


def explain_unauthorized(virtual_proxy_url: str) -> list[str]:
    """The likely causes of a 401 from a JWT virtual proxy, in plain words (the proxy never says which)."""
    return [
        f"the virtual proxy at {virtual_proxy_url} refused the JWT; the proxy does not say why, the usual causes are:",
        "audience: the token's aud must equal the virtual proxy's audience (create-qseow --audience)",
        "claim names: the user ID and user directory claims must be named exactly as the virtual proxy's JWT "
        "attributes, case included (--userid-claim, --userdir-claim)",
        "certificate: the token must be signed with the key of the certificate configured in the virtual proxy "
        "(qs-jwt qseow virtual-proxy check compares them)",
        "expiry: an expired token (exp) is refused; make a new one",
    ]


def qlik_cli_context_command(name: str, server: str, jwt: str, *, insecure: bool = False) -> list[str]:
    """The qlik-cli command line that makes a context for a QSEoW virtual proxy (spec E): the server URL includes
    the prefix, the JWT is the API key."""
    from .claims import check_text

    check_text(name, param="name")
    argv = ["qlik", "context", "create", name, "--server", server, "--server-type", "windows", "--api-key", jwt]
    return [*argv, "--insecure"] if insecure else argv


def describe_certificate_chain(chain: Sequence[bytes]) -> list[dict[str, Any]]:
    """Subject, issuer, validity, SHA-256 fingerprint and PEM of each DER certificate, leaf first."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    described = []
    for der in chain:
        cert = x509.load_der_x509_certificate(der)
        digest = hashlib.sha256(der).hexdigest().upper()
        described.append({
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "notBefore": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "notAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "selfSigned": cert.subject == cert.issuer,
            "sha256Fingerprint": ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
            "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        })
    return described


class QseowClient:
    """Requests through one QSEoW virtual proxy (``https://HOST/PREFIX``) with a JWT; a context manager.

    :param server: the virtual proxy's URL, prefix included.
    :param jwt: the token the virtual proxy accepts; sent once, then the proxy's session cookie is used.
    :param settings: timeouts, retries and TLS (``ca_cert`` for QSEoW's own certificates).
    :param log: a function that takes one debug line (never a secret).
    """

    def __init__(self, server: str, jwt: str, *, settings: HttpSettings | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        from .http import HttpClient, HttpSettings, normalize_base_url

        if not isinstance(jwt, str) or not jwt:
            raise ArgumentTypeError("expected the JWT as text", param="jwt")
        self.server = normalize_base_url(server)
        self._jwt = jwt
        self._http: HttpClient = HttpClient(self.server, settings or HttpSettings(), log=log)
        self._session = False

    def __enter__(self) -> QseowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the proxy session (:meth:`logout`), then close the connections."""
        try:
            self.logout()
        finally:
            self._http.close()

    def logout(self) -> None:
        """End the virtual proxy's session for this client, as the hub's log out does (``DELETE /qps/user``), so
        that runs do not pile up towards QSEoW's limit of five sessions per user. Best effort: a failure is
        ignored (the session then ends after the virtual proxy's inactivity timeout)."""
        import contextlib

        from .errors import QsJwtError

        if not self._session:
            return
        self._session = False
        with contextlib.suppress(QsJwtError):
            self._http.request("DELETE", "/qps/user", expect_json=False)
        self._http.cookies.clear()

    @property
    def has_session(self) -> bool:
        """True once the virtual proxy accepted the JWT and answered with a session cookie."""
        return self._session

    def request(self, method: str, path: str, *, params: Sequence[tuple[str, str]] | None = None,
                json: object = None, content: bytes | None = None, headers: Mapping[str, str] | None = None,
                expect_json: bool = True, xrfkey: bool = True) -> HttpResponse:
        """One request: a fresh xrfkey, the JWT until there is a session, then the session cookie. A session
        the proxy no longer knows (401) is replaced once by sending the JWT again.

        :param expect_json: a 2xx answer that is not JSON is an error (False: any answer is returned).
        :param xrfkey: send the xrfkey (QRS needs it; the deployments API is called without one).
        :raises QlikApiError: a non-2xx answer (``status`` 401: the proxy refused the JWT).
        :raises QlikConnectionError: no answer (DNS, refused, TLS, timeout).
        """
        with_session = self._session
        try:
            response = self._send(method, path, params, json, content, headers, expect_json, xrfkey)
        except QlikApiError as exc:
            if exc.status == 429 and "too many sessions" in str(exc).lower():
                raise QlikApiError(f"{exc}: the user has as many sessions open as QSEoW allows (5); they end after "
                                   "the virtual proxy's session inactivity timeout (30 minutes by default)",
                                   status=429, method=exc.method, url=exc.url, items=exc.items) from None
            if exc.status != 401 or not with_session:
                raise
            self._session = False  # the session expired: log in again with the JWT, once
            self._http.cookies.clear()
            response = self._send(method, path, params, json, content, headers, expect_json, xrfkey)
        return response

    def _send(self, method: str, path: str, params: Sequence[tuple[str, str]] | None, json: object,
              content: bytes | None, headers: Mapping[str, str] | None, expect_json: bool,
              xrfkey: bool = True) -> HttpResponse:
        query = [(k, v) for k, v in (params or ()) if k.lower() != "xrfkey"]
        sent = {k: v for k, v in (headers or {}).items() if k.lower() not in ("x-qlik-xrfkey", "authorization")}
        if xrfkey:
            key = new_xrfkey()
            query.append(("xrfkey", key))
            sent["X-Qlik-Xrfkey"] = key
        bearer = not self._session
        if bearer:
            sent["Authorization"] = f"Bearer {self._jwt}"
        try:
            return self._http.request(method, path, params=query, headers=sent, json=json, content=content,
                                      expect_json=expect_json)
        finally:  # the proxy took the JWT and set its session cookie (even if the answer was an error): a session
            if bearer and self._http.cookies:
                self._session = True

    def qrs(self, method: str, path: str, *, json: object = None, params: Sequence[tuple[str, str]] = ()) -> Any:
        """A QRS call (``path`` under ``/qrs/``); the JSON answer."""
        response = self.request(method, f"/qrs/{path.lstrip('/')}", json=json, params=params)
        return response.json() if response.body.strip() else None

    def about(self) -> dict[str, Any]:
        """``GET /qrs/about``: the repository's version."""
        return dict(self.qrs("GET", "about"))

    def virtual_proxies(self) -> list[dict[str, Any]]:
        """Every virtual proxy, as full entities."""
        return list(self.qrs("GET", "virtualproxyconfig/full"))

    def virtual_proxy(self, prefix: str) -> dict[str, Any] | None:
        """The virtual proxy with ``prefix``, or None."""
        return next((vp for vp in self.virtual_proxies() if vp.get("prefix") == prefix), None)

    def proxy_services(self) -> list[dict[str, Any]]:
        """Every proxy service, as full entities (``settings.virtualProxies`` lists the linked ones)."""
        return list(self.qrs("GET", "proxyservice/full"))

    def central_node_id(self) -> str:
        """The id of the central server node."""
        nodes = self.qrs("GET", "servernodeconfiguration/full")
        central = [node for node in nodes if node.get("isCentral")]
        if len(central) != 1:
            raise QlikApiError(f"the repository lists {len(central)} central nodes, not one; give "
                               "--load-balancing-node ID")
        return str(central[0]["id"])

    def linked_proxy_ids(self, virtual_proxy_id: str) -> list[str]:
        """The proxy services that link the virtual proxy."""
        return [str(proxy["id"]) for proxy in self.proxy_services()
                if any(vp.get("id") == virtual_proxy_id for vp in proxy.get("settings", {}).get("virtualProxies", []))]

    def create_virtual_proxy(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /qrs/virtualproxyconfig``: the created entity."""
        return dict(self.qrs("POST", "virtualproxyconfig", json=dict(body)))

    def link_virtual_proxy(self, virtual_proxy_id: str, proxy_id: str | None = None) -> dict[str, Any]:
        """Link the virtual proxy to a proxy service (``proxy_id``, else the only or the central node's one):
        GET the whole entity, append the virtual proxy, PUT it back with its ``modifiedDate``; a conflict
        (someone changed it meanwhile) is retried once after a fresh GET."""
        proxy_id = proxy_id or self._default_proxy_id()
        for attempt in range(_CONFLICT_RETRIES + 1):
            proxy = dict(self.qrs("GET", f"proxyservice/{proxy_id}"))
            linked = proxy.setdefault("settings", {}).setdefault("virtualProxies", [])
            if any(vp.get("id") == virtual_proxy_id for vp in linked):
                return proxy
            linked.append({"id": virtual_proxy_id})
            try:
                return dict(self.qrs("PUT", f"proxyservice/{proxy_id}", json=proxy))
            except QlikApiError as exc:
                if exc.status != 409 or attempt == _CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # --- deployments (the Hybrid Deployment Service: not in Qlik's published API reference) ------------

    def _hds(self, method: str, path: str, *, json: object = None, params: Sequence[tuple[str, str]] = (),
             expect_json: bool = True) -> HttpResponse:
        try:
            return self.request(method, f"{HDS_PATH}{path}", json=json, params=params, expect_json=expect_json,
                                xrfkey=False)
        except QlikApiError as exc:
            if exc.status != 404:
                raise
            if path:  # an unknown id, or no deployments API at all: the list says which
                try:
                    self.request("GET", HDS_PATH, xrfkey=False)
                except QlikApiError as probe:
                    if probe.status != 404:
                        raise exc from None
                else:
                    raise
            raise QlikApiError(f"{exc}: this server does not offer the deployments API ({HDS_PATH}, which is not in "
                               "Qlik's published reference); create the deployment in the QMC (Cloud distribution) "
                               "and use its bearer token", status=404, code=exc.code, detail=exc.detail,
                               method=exc.method, url=exc.url, title=exc.title, items=exc.items) from None

    def deployments(self) -> list[dict[str, Any]]:
        """``GET /api/hds/v1/Deployments``: the site's cloud-distribution deployments."""
        data = self._hds("GET", "").json()
        if not isinstance(data, list):
            raise QlikApiError(f"GET {self.server}{HDS_PATH}: the answer is not a list of deployments", method="GET",
                               url=f"{self.server}{HDS_PATH}")
        return [dict(item) for item in data if isinstance(item, dict)]

    def create_deployment(self, name: str, service_url: str) -> dict[str, Any]:
        """``POST /api/hds/v1/Deployments`` of a deployment to the tenant ``service_url`` with a local bearer token
        (``audience`` qlik.api): the created deployment, with its ``id``."""
        from .claims import check_text
        from .qscloud import normalize_tenant_url

        body = {"name": check_text(name, param="name"), "audience": DEPLOYMENT_AUDIENCE,
                "serviceUrl": normalize_tenant_url(service_url), "localBearerToken": True}
        created = self._hds("POST", "", json=body).json()
        if not isinstance(created, dict) or not created.get("id"):
            raise QlikApiError(f"POST {self.server}{HDS_PATH}: the answer names no deployment id", method="POST",
                               url=f"{self.server}{HDS_PATH}")
        return dict(created)

    def deployment_bearer_token(self, deployment_id: str) -> str:
        """The deployment's bearer token in "Qlik Cloud format" (``elastictokenconfig?qcsFormat=True``), whether the
        server answers it as a JSON string or as plain text.

        :raises TokenFormatError: the answer is not such a token.
        """
        from .errors import TokenFormatError
        from .qscloud import decode_bearer_token

        path = f"/{_deployment_id(deployment_id)}/elastictokenconfig"
        response = self._hds("GET", path, params=[("qcsFormat", "True")], expect_json=False)
        text = response.text().strip()
        if text.startswith('"'):
            try:
                parsed = jsonlib.loads(text)
            except ValueError:
                parsed = None
            if not isinstance(parsed, str):
                raise TokenFormatError(f"GET {response.url}: the answer is not a bearer token (a JSON text that is not "
                                       "a string)")
            text = parsed.strip()
        decode_bearer_token(text)  # a clear error now, rather than a refused identity provider later
        return text

    def delete_deployment(self, deployment_id: str) -> None:
        """``DELETE /api/hds/v1/Deployments/{id}``."""
        self._hds("DELETE", f"/{_deployment_id(deployment_id)}", expect_json=False)

    def _default_proxy_id(self) -> str:
        proxies = self.proxy_services()
        if len(proxies) == 1:
            return str(proxies[0]["id"])
        node = self.central_node_id()
        central = [p for p in proxies if (p.get("serverNodeConfiguration") or {}).get("id") == node]
        if len(central) == 1:
            return str(central[0]["id"])
        raise QlikApiError(f"the repository lists {len(proxies)} proxy services; give --proxy-id ID")

