"""Test emulators of Qlik platforms, served over real HTTP(S) on 127.0.0.1 (a random free port).

Only the tests use this package. Tokens are validated with PyJWT and ``cryptography``, never with ``qs_jwt``.

Layout: :mod:`.server` is the machinery any emulator shares (an :class:`EmulatorServer` thread, a small
:class:`Router`, request recording, fault injection); an emulator is a backend mounted on a server, so a
Qlik Cloud emulator can later be mounted beside QSEoW on the same server (a backend answers ``None`` for a
path that is not its own). :mod:`.qseow` is Qlik Sense Enterprise on Windows: the proxy, with its JWT rules
in :mod:`.qseow_jwt`, in front of a small Repository Service (QRS), its entities in :mod:`.qrs_entities`, and
the Hybrid Deployment Service (HDS, cloud distribution) in :mod:`.hds`. :mod:`.tls` makes the certificates
(one shared test CA, or a CA per server) and CA bundles. :mod:`.fixtures` has the pytest fixtures.

Servers and CAs::

    server = EmulatorServer(tls=True, cert="valid", own_ca=False)   # cert: "valid", "expired", "self-signed"
    server.url, server.port, server.ca_cert_path, server.ca_cert_pem, server.server_cert_pem
    #   own_ca=True: the certificate comes from a fresh CA of this server's own (an EC P-256 CA key, instant),
    #   so a client trusting it trusts no other emulator server; else from the session's one shared test CA.
    QseowEmulator(tls=True, own_ca=True)   # the same for an emulator with a server of its own
    write_ca_bundle(path, *sources)        # (in .tls, and .fixtures) one PEM of the CAs of emulators, servers,
                                           # CA files or PEM bytes, each once: the one --ca-cert for them all

QSEoW, for the tests::

    emu = QseowEmulator(tls=True)          # its own server (close() it, or use `with`); or the fixture
    emu.url                                # "https://127.0.0.1:PORT"; requests go to f"{emu.url}/<prefix>/..."
    emu.ca_cert_path                       # PEM of the test CA the server certificate chains to
    emu.server_cert_pem                    # the server's leaf certificate
    vp = emu.add_virtual_proxy("jwt", cert_pem=key_bytes("rsa2048_cert.pem"), audience="qlik",
                               userid_claim="userId", userdir_claim="userDirectory", linked=True)
    #   also attribute_map=[{"jwtAttribute", "senseAttribute", "isMandatory"}], authentication_method=0,
    #   session_cookie_header_name=..., description=..., load_balancing=False; returns the VirtualProxyConfig
    emu.add_admin("ACME", "admin")         # RootAdmin: may read/write every QRS endpoint
    emu.add_app("Sales", stream=None)      # for GET /qrs/app
    emu.add_rim_node("Rim1")               # a second server node, with its own proxy service
    emu.virtual_proxy("jwt"), emu.proxy_service(), emu.central_node   # current state (copies)

    emu.requests                           # [(method, path, query dict, headers dict with lower-case names)]
    emu.auth_failures                      # why each login was refused: "signature", "audience mismatch",
                                           # "claim userId missing", "expired", "algorithm HS256", "no token", ...
    emu.xrfkeys                            # the xrfkey of each QRS request that passed the check
    emu.sessions                           # [Session(id, vp_id, user_directory, user_id, attributes)]
    emu.logouts                            # ids of the sessions ended by DELETE /<prefix>/qps/user

    emu.fail_next("/jwt/qrs/about", 503, count=2)                          # path prefix, then the response
    emu.fail_next("/jwt/qrs/", 429, headers={"Retry-After": "1"}, body="slow down")
    emu.fail_next("/jwt/", 502, body="<html>...</html>", content_type="text/html")
    emu.stall("/jwt/qrs/about", 2.0)       # accept, answer nothing for 2 s, then hang up
    emu.bump_modified_date_on_next_put(entity_id)   # the next PUT of that entity meets a 409

    # the HDS (cloud distribution, spec C.3)
    emu.add_deployment("Tenant A", "https://tenant-a.example")      # as a POST would; -> the deployment dict
    emu.deployments                        # [{"id", "name", "audience", "serviceUrl", "localBearerToken": True,
                                           #   "authenticationUrl": "", "clientId": ""}] (copies, creation order)
    emu.site_id, emu.site_issuer, emu.site_kid, emu.site_public_pem   # "<uuid>", "https://qlik.<uuid>",
                                           # "qlik-<uuid>", the site's RSA key as one-line SPKI PEM: the same in
                                           # every deployment's token (the key is made once per process)
    emu.set_bearer_token_format("text")    # or "json-string" (the default), see below
    emu.disable_hds()                      # a server without the HDS: /api/hds/... is the proxy's 404 page
    hds.decode_bearer_token(b64)           # -> the token's JSON object (base64 + json only, no qs_jwt)

What the emulated proxy does with a request to ``/<prefix>/<path>``:

- no virtual proxy with that prefix (and none with the empty prefix): 404 HTML page
  (``<title>404 - Not Found</title>``); a virtual proxy not linked to a proxy service, or without a
  load-balancing node: 503 HTML page; a non-JWT virtual proxy: 302 to ``internal_windows_authentication``.
- a session cookie (``sessionCookieHeaderName``; ``-HTTP`` appended over plain HTTP) of that virtual proxy
  authenticates; else ``Authorization: Bearer <jwt>``, validated strictly (:mod:`.qseow_jwt`). A refusal is
  a 401 HTML page (``401 - Unauthorized``, "Authentication failed") and a reason in ``auth_failures``; a
  success creates a session and answers with ``Set-Cookie: <name>=<id>; Path=/; HttpOnly; Secure``.
  A sixth parallel session of one user is refused: 429 page "Too many sessions".
- ``/qrs/...`` then needs the xrfkey (query ``xrfkey``, any case, equal to header ``X-Qlik-Xrfkey``,
  16 letters/digits), else 403 ``XSRF prevention check failed. Possible XSRF discovered.`` (text/plain).
  Non-administrators may GET ``/qrs/about``, ``/qrs/app[/full]`` and ``/qrs/user[/full]`` (themselves only);
  anything else is 403. Lists take ``?filter=`` (``eq``/``ne`` joined by ``and``). PUT needs the full entity
  with the current ``modifiedDate`` (stale: 409). ``/``, ``/hub...``: a 200 hub page; other paths: 404 page.
- ``/api/hds/v1/...`` (any case, authenticated as above) needs no xrfkey; only administrators (``add_admin``),
  others get 403. Errors are JSON ``{"status", "title", "detail"}``. ``POST /api/hds/v1/Deployments`` takes
  ``{"name", "audience", "serviceUrl", "localBearerToken"}`` (and, empty, ``authenticationUrl``, ``clientId``,
  ``clientSecret``; any other field is a 400): ``name`` a non-empty string, unique ignoring case (else 409);
  ``audience`` ``"qlik.api"``; ``serviceUrl`` ``https://host`` or ``https://host:port`` (no path, not even
  ``/``); ``localBearerToken`` true; answers 201 with the deployment. ``GET .../Deployments`` (a JSON array),
  ``GET .../Deployments/{id}``, ``DELETE .../Deployments/{id}`` (204); unknown id: 404.
  ``GET .../Deployments/{id}/elastictokenconfig?qcsFormat=True`` (name and value in any case; else 400) answers
  the local bearer token in "Qlik Cloud format": base64 (standard, padded) of the compact JSON
  ``{"issuerConfig": {"issuer": site_issuer}, "primary": false, "realm": "custom", "hostname": <serviceUrl
  without "https://", port kept>, "staticKeys": [{"kid": site_kid, "pem": site_public_pem}]}``; as a JSON string
  literal (``application/json``, ``"json-string"``) or bare (``text/plain``, ``"text"``).

Qlik Cloud (:mod:`.qscloud`, its JWT and identity-provider rules in :mod:`.qscloud_jwt`), one tenant::

    emu = QscloudEmulator(tls=True)        # or server=...: beside QSEoW on one server; or the fixture
    emu.url, emu.ca_cert_path, emu.requests, emu.fail_next(...), emu.stall(...)    # as for QSEoW
    emu.tenant_id                          # also in GET /api/v1/users/me
    idp = emu.add_jwt_idp("my-app", "key-1", cert_pem, active=True, clock_skew=5)   # -> the IdP dict
    emu.add_api_key("qscloud-admin", "the-key", tenant_admin=True)                  # -> the user dict
    emu.set_allotment("analyzer", 0)       # licences left to assign per type (10 professional, 10 analyzer)
    emu.users, emu.identity_providers, emu.license_assignments                     # current state (copies)
    emu.auth_failures                      # why each login was refused: "kid unknown", "issuer unknown",
                                           # "claim nbf missing", "lifetime over 3600 s (exp - nbf)",
                                           # "claim email_verified must be a boolean", "jti replayed",
                                           # "expired", "audience mismatch", "algorithm HS256", "signature", ...
    emu.used_jtis                          # the jti of every accepted token, in order
    emu.add_user("alice", email="alice@example.com", tenant_admin=False)            # -> the user dict

    # OAuth (machine to machine, :mod:`.qscloud_oauth`): POST /oauth/token, tokens as API credentials
    emu.add_oauth_client("client-1", secret="the-secret", jwk=public_jwk_dict,      # or jwk=pem, kid="k1",
                         allowed_grant_types=("client_credentials", "urn:qlik:oauth:user-impersonation"),
                         scopes=("user_default", "admin_classic"), access_token_ttl=3600)  # alg="RS512"
    #   -> {"clientId", "clientName", "appType", "allowedGrantTypes", "allowedScopes", "publicKeys",
    #       "hasSecret", "serviceUserId"}; the service user has the subject "oauth-client:client-1"
    emu.oauth_clients                      # the clients, as add_oauth_client returned them
    emu.oauth_tokens_issued                # [IssuedToken(access_token, client_id, grant_type, user_id, scopes,
                                           #   expires_at, auth_method, encoding)], in order
    emu.oauth_failures                     # "client unknown", "secret wrong", "assertion aud trailing slash",
                                           # "assertion jti replayed", "grant not allowed: ...", "scope not allowed:
                                           # ...", "user not found", "access token expired", ...
    emu.oauth_jtis                         # the jti of every accepted client assertion
    emu.expire_oauth_tokens()              # every token issued so far expires now (API calls then get a 401)

Several servers, each with a CA of its own (the multi-cloud set-up: one QSEoW, several tenants): the fixture
``qscloud_tenants`` is three fresh tenants ``[tenant 1, tenant 2, tenant 3]`` with no identity provider, the admin
``tenant<n>-admin`` and its API key ``tenant<n>-admin-api-key`` (``fixtures.QSCLOUD_TENANT_API_KEYS``), each on its
own server and CA (started once per session); ``qseow_emulator_own_ca`` is ``qseow_emulator`` on a server with
its own CA; ``write_ca_bundle(tmp_path / "ca.pem", qseow, *tenants)`` trusts them all. Ad hoc:
``QscloudEmulator(server=EmulatorServer(own_ca=True))`` (close the server too). conftest.py does not import these
two fixtures: a test module takes them with ``qscloud_tenants = fixtures.qscloud_tenants`` (and the like).

What the emulated tenant does (errors are ``{"errors": [{"code", "title", "detail", "status"}], "traceId"}``):

- ``POST /login/jwt-session`` with ``Authorization: Bearer <jwt>``: RS256 only; the header ``kid`` names a static
  key of an active JWT IdP whose issuer is ``iss``; ``aud`` exactly ``qlik.api/login/jwt-session``; ``sub``,
  ``subType: "user"``, ``name``, ``jti``, integer ``iat``/``nbf``/``exp`` required, ``email_verified`` (a
  boolean) with ``email``, ``groups`` an array of strings; ``exp - nbf`` and ``exp - iat`` at most 3600 s; times
  checked with the IdP's ``clockToleranceSec``; a ``jti`` is taken once. Malformed claims: 400 ``INTERNAL-TOKEN-1``
  ``JWT_LOGIN_VALIDATIONS Missing required claim: nbf`` (and the like); other refusals: 401 ``LOGIN-1``. A success
  answers 200 ``{}`` with the cookies ``eas.sid``, ``eas.sid.sig``, ``_csrfToken``, ``_csrfToken.sig`` and
  creates (or updates) the user of that ``sub``; its email shows only when ``email_verified`` is true.
- ``/api/...`` needs an API key (``Authorization: Bearer <key>``) or the session cookies (with their ``.sig``),
  else 401. With cookies, a POST/PUT/PATCH/DELETE needs ``qlik-csrf-token`` (from ``GET /api/v1/csrf-token``:
  204, the token in that header; 400 for an API key) equal to the ``_csrfToken`` cookie, else 403 ``CSRF-TOKEN-2``.
- ``GET /api/v1/users/me``; for TenantAdmins: ``GET /api/v1/users``, ``POST /api/v1/licenses/assignments/actions/add``
  (207, one result per item: 201, 404 unknown subject, 409 already assigned, 403 ``LICENSES-011`` no allotment),
  ``GET/POST /api/v1/identity-providers`` and ``GET/PATCH/DELETE /api/v1/identity-providers/{id}`` (``jwtAuth`` or
  ``qsefw-local-bearer-token`` bodies, see :func:`.qscloud_jwt.new_idp`; PATCH replaces ``/description`` only).
  Lists take ``limit`` (1-100, default 20) and answer ``links.next.href`` (absolute, with an opaque ``next``
  cursor); identity providers also filter on ``protocol`` and ``active``.
- ``POST /oauth/token`` (JSON or form-encoded): ``client_id``, ``grant_type`` (``client_credentials`` or
  ``urn:qlik:oauth:user-impersonation``, which the client must allow), ``scope`` (space-separated, each allowed for
  the client; none: all of them), and ``client_secret`` (or ``Authorization: Basic``) or ``client_assertion`` with
  ``client_assertion_type`` ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``; impersonation needs
  ``user_lookup`` ``{"field": "subject" | "email" | "userId", "value"}`` naming an existing user. An assertion
  (checked with PyJWT): ``alg`` RS256/RS512, the ``alg`` of the registered JWK whose ``kid`` the header names;
  ``iss`` = ``sub`` = the client id, ``aud`` exactly ``f"{emu.url}/oauth/token"``, ``exp - iat`` at most 300 s,
  not expired, ``jti`` taken once. Answers ``{"access_token", "token_type": "bearer", "expires_at": "<ISO, ms,
  Z>", "scope"}``; refusals are Qlik's envelope with the emulator's own codes ``OAUTH-1`` (request) ``-2``
  (grant type) ``-3`` (client, 401) ``-4`` (assertion, 401) ``-5`` (grant not allowed) ``-6`` (scope) ``-7``
  (user not found) (UNCONFIRMED: Qlik documents none). An access token is an API credential (``Authorization:
  Bearer``) for its user (the client's service user, or the impersonated user) until it expires (then 401); the
  call is an administrator's when that user is a TenantAdmin and the token has the scope ``admin_classic``.
"""

from .hds import decode_bearer_token
from .qscloud import QscloudEmulator
from .qseow import QseowEmulator, Session
from .server import EmulatorServer, RecordedRequest, Request, Response, Router
from .tls import write_ca_bundle

__all__ = ["EmulatorServer", "QscloudEmulator", "QseowEmulator", "RecordedRequest", "Request", "Response", "Router",
           "Session", "decode_bearer_token", "write_ca_bundle"]
