"""``qscloud login``, ``qscloud call``, ``qscloud idp create|list|get|delete|check`` and
``qscloud multicloud decode|create``."""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING, Any

from ..errors import QlikApiError, QsJwtError
from ..oauth import OAuthError
from ..qscloud import (
    JWT_AUTH,
    QlikCloudClient,
    QlikCloudSession,
    QlikLoginError,
    check_identity_providers,
    decode_bearer_token,
    describe_bearer_token,
    identity_provider_thumbprint,
    jwt_idp_body,
    multicloud_idp_body,
    rebuild_bearer_token,
)
from ._common import ENV_API_KEY, ExitCode, UsageError
from ._io import emit, read_input, read_passphrase, read_secret_file, read_stdin, read_token, shown_path, to_json
from ._net import debug_log, http_settings, print_answer, request_parts, tenant_url
from ._run import Log, safe_text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from ..checks import CheckReport
    from ..oauth import OAuthCredentials

_TENANT_EXAMPLE = "https://your-tenant.eu.qlikcloud.com"
_MAX_API_KEY_FILE = 64 * 1024
#: what a trace id of Qlik looks like (hex, maybe with dashes); anything else is not shown (it could be a secret)
_TRACE_ID = re.compile(r"[0-9a-fA-F-]{8,64}")


# --- shared: the tenant, the admin credential, the user's JWT ---------------------------------------------


def _client(args: argparse.Namespace, log: Log, *, api_key: str | None = None,
            session: QlikCloudSession | None = None, credentials: OAuthCredentials | None = None) -> QlikCloudClient:
    settings = http_settings(args, log, flag="--tenant", value=args.tenant, example=_TENANT_EXAMPLE)
    return QlikCloudClient(tenant_url(args), api_key=api_key, session=session, settings=settings, log=debug_log(log),
                           web_integration_id=getattr(args, "web_integration_id", None), credentials=credentials)


def _api_key_given(args: argparse.Namespace) -> bool:
    return args.api_key is not None or args.api_key_file is not None


def api_key(args: argparse.Namespace, log: Log, *, required: bool = True) -> str | None:
    """The API key from --api-key-file, --api-key (warns) or $QLIK_API_KEY."""
    if args.api_key is not None and args.api_key_file is not None:
        raise UsageError("give either --api-key or --api-key-file, not both")
    if args.api_key is not None:
        if "api_key" in getattr(args, "injected", {}):
            log.warn("the API key is written in a profile or $QS_JWT_API_KEY; prefer api-key-file (a file that "
                     f"holds it) or ${ENV_API_KEY}")
        else:
            log.warn(f"--api-key puts the key in the process list and shell history; prefer --api-key-file or "
                     f"${ENV_API_KEY}")
        key = str(args.api_key).strip()
        if not key:
            raise UsageError("--api-key: the value is empty")
        return key
    if args.api_key_file is not None:
        return _read_api_key_file(args.api_key_file)
    key = os.environ.get(ENV_API_KEY, "").strip()
    if key:
        log.verbose(f"API key taken from ${ENV_API_KEY}")
        return key
    if required:
        raise UsageError(f"no API key: give --api-key-file FILE or set ${ENV_API_KEY} (a tenant admin's API key, "
                         "or an OAuth access token)")
    return None


def _read_api_key_file(path: str) -> str:
    return read_secret_file("--api-key-file", path, "API key")


def _warn_unused_admin(args: argparse.Namespace, log: Log) -> None:
    """--dry-run sends nothing: the admin credential's options are not used."""
    given = [flag for flag, name in (("--api-key-file", "api_key_file"), ("--api-key", "api_key"),
                                     ("--client-id", "client_id"), ("--client-secret-file", "client_secret_file"),
                                     ("--client-secret", "client_secret"),
                                     ("--assertion-privatekey-file", "assertion_privatekey_file"),
                                     ("--assertion-passphrase-file", "assertion_passphrase_file"))
             if getattr(args, name, None) is not None and name not in getattr(args, "injected", {})]
    if given:
        log.warn(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} not used with --dry-run (nothing is sent)")


def admin_client(args: argparse.Namespace, log: Log) -> QlikCloudClient:
    """The tenant admin's client: OAuth (--client-id with a secret or a private key JWT), else the API key."""
    from ._oauth import credentials

    tenant = tenant_url(args)
    creds = credentials(args, log, tenant)
    if creds is not None:
        if _api_key_given(args):
            raise UsageError("give an API key or an OAuth client (--client-id), not both")
        return _client(args, log, credentials=creds)
    return _client(args, log, api_key=api_key(args, log))


def _minting_given(args: argparse.Namespace) -> bool:
    """A user to make a token for (--sub or --useremail): --issuer and --keyid alone are settings (a profile
    holds them), not a request to log in."""
    return any(getattr(args, name, None) is not None for name in ("sub", "useremail"))


def _jwt_given(args: argparse.Namespace) -> bool:
    return args.jwt is not None or args.jwt_file is not None or _minting_given(args)


_KEY_OPTIONS = (("--cert-privatekey-file", "cert_privatekey_file"), ("--cert-privatekey", "cert_privatekey"),
                ("--cert-privatekey-passphrase-file", "cert_privatekey_passphrase_file"))


class _UserJwt:
    """The user's JWT: given, or minted now (a fresh jti each time); the values to check it against."""

    def __init__(self, args: argparse.Namespace, log: Log) -> None:
        self.args, self.log = args, log
        drop_conflicting_user_credential(args, getattr(args, "injected", {}))
        self.public_key: RSAPublicKey | None = None
        self.minted = _minting_given(args)
        given = args.jwt is not None or args.jwt_file is not None
        if given and self.minted:
            raise UsageError("give --jwt/--jwt-file or the options that make a token (--issuer, --keyid, --sub, ...), "
                             "not both")
        if not given and not self.minted:
            raise UsageError("no JWT: give --jwt TOKEN, --jwt-file FILE, or the create-qscloud options that make one "
                             "(--sub, --issuer, --keyid and a signing key)")
        if self.minted:
            missing = [flag for flag, name in (("--issuer", "issuer"), ("--keyid", "keyid")) if getattr(args, name)
                       is None]
            if missing:
                raise UsageError(f"to make the token, {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                 "needed too")
            from ..errors import InvalidValueError
            from ._create import qscloud_parts, signer_for

            try:
                self._parts, self._warnings = qscloud_parts(args, log)
            except InvalidValueError as exc:
                if exc.param == "expires" and "allow_long_lifetime" in exc.mentions:
                    raise UsageError("--expires: Qlik Cloud refuses a login token that lives over an hour (3600 s "
                                     "between nbf and exp); give 1h or less (the default, 5m, is plenty)") from None
                raise
            self._signer = signer_for(args, log)
            self.public_key = self._signer.public_key
        else:
            unused = [flag for flag, name in _KEY_OPTIONS
                      if getattr(args, name, None) is not None and name not in getattr(args, "injected", {})]
            if unused:
                log.warn(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used when the JWT is given; "
                         "ignored")
            self._token = read_token(args)

    def token(self) -> str:
        if not self.minted:
            return self._token
        from ..tokens import Token

        header, payload = self._parts()
        token = Token(self._signer.sign(header, payload), header, payload, self._warnings)
        self.log.warnings(token.warnings)
        self.log.verbose(f"made a JWT for {payload.get('sub')!s} that expires in {self.args.expires}")
        return token.token


def _login(client: QlikCloudClient, jwt: _UserJwt, log: Log) -> dict[str, Any]:
    """Log in with the JWT; a refusal is explained and raised as handled (exit 4)."""
    token = jwt.token()
    try:
        user = client.login(token)
    except QlikLoginError as exc:
        _explain_login(exc, token, jwt, log)
        raise _Handled(ExitCode.API) from None
    log.verbose(f"logged in to {client.tenant} as {user.get('subject')!s}")
    return user


class _Handled(Exception):
    """The error was reported; exit with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _explain_login(exc: QlikLoginError, token: str, jwt: _UserJwt, log: Log) -> None:
    from ..checks import check_qscloud

    log.error(str(exc))
    if exc.trace_id and _TRACE_ID.fullmatch(exc.trace_id):
        log.info(f"Qlik's trace id: {exc.trace_id}")
    for number, line in enumerate(exc.explanation):
        log.info(f"{'likely cause: ' if number == 0 else '  '}{line}")
    try:
        report = check_qscloud(token, issuer=jwt.args.issuer, keyid=jwt.args.keyid, key=jwt.public_key)
    except QsJwtError:
        return
    findings = [f for f in report.findings if f.rule != "signature" or jwt.public_key is not None]
    if findings:
        log.info("what qs-jwt check --target qscloud finds in the token:")
    for finding in findings:
        log.info(f"  {finding.severity.upper()}: {finding.message} (fix: {finding.fix})")


def _run_handled(body: Any, args: argparse.Namespace, log: Log) -> int:
    try:
        return int(body(args, log))
    except _Handled as handled:
        return handled.code


# --- qscloud login -----------------------------------------------------------------------------------------


def login(args: argparse.Namespace, log: Log) -> int:
    return _run_handled(_login_command, args, log)


def _login_command(args: argparse.Namespace, log: Log) -> int:
    jwt = _UserJwt(args, log)
    if args.session_file is not None:
        _check_session_target(args.session_file)
    with _client(args, log) as client:
        user = _login(client, jwt, log)
        if args.session_file is not None:
            client.save_session(args.session_file)
            log.info(f"session saved to {shown_path(args.session_file)} (it is a credential: keep it private; it "
                     "lasts as long as the tenant's session settings allow)")
    emit(to_json(user))
    return ExitCode.OK


def _check_session_target(path: str) -> None:
    """Refuse a --session-file path that cannot take a file before logging in (a JWT is taken once)."""
    if os.path.isdir(path):
        raise UsageError(f"--session-file: {shown_path(path)} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--session-file: the folder {shown_path(folder)} does not exist")


def _load_session(path: str) -> QlikCloudSession:
    from ..keys import private_key_file_problem

    if not os.path.isfile(path):
        raise QsJwtError(f"--session-file: {shown_path(path)}: no such file; log in first with qs-jwt qscloud login "
                         "--session-file")
    session = QlikCloudSession.load(path)
    problem = private_key_file_problem(path)
    if problem:
        raise QsJwtError(f"--session-file: {shown_path(path)}: {problem}; the session is a credential: run chmod "
                         f"600 {shown_path(path)}")
    return session


# --- qscloud call ------------------------------------------------------------------------------------------


def call(args: argparse.Namespace, log: Log) -> int:
    return _run_handled(_call_command, args, log)


def _call_command(args: argparse.Namespace, log: Log) -> int:
    method, body, query, headers = request_parts(args, ", e.g. /api/v1/users/me")
    _prefer_typed_credential(args)
    if getattr(args, "client_id", None) is None:
        from ._oauth import warn_unused

        warn_unused(args, log)
    jwt_given = _jwt_given(args)
    if jwt_given and _api_key_given(args):
        raise UsageError("give the user's JWT (--jwt, --jwt-file or the minting options) or an API key, not both")
    if _api_key_given(args) and args.session_file is not None:
        raise UsageError("give --session-file or an API key, not both")
    if getattr(args, "client_id", None) is not None and (_api_key_given(args) or jwt_given
                                                         or args.session_file is not None):
        raise UsageError("give one credential: the user's JWT, --session-file, an API key or an OAuth client "
                         "(--client-id)")
    if jwt_given:
        jwt = _UserJwt(args, log)
        if args.session_file is not None:
            _check_session_target(args.session_file)
        with _client(args, log) as client:
            _login(client, jwt, log)
            if args.session_file is not None:
                client.save_session(args.session_file)
            response = client.request(method, args.path, params=query, json=body, headers=headers, expect_json=False)
    elif args.session_file is not None:
        session = _load_session(args.session_file)
        with _client(args, log, session=session) as client:
            response = client.request(method, args.path, params=query, json=body, headers=headers, expect_json=False)
    elif getattr(args, "client_id", None) is not None:
        from ._oauth import credentials, explain

        creds = credentials(args, log, tenant_url(args), user=True)
        with _client(args, log, credentials=creds) as client:
            try:
                response = client.request(method, args.path, params=query, json=body, headers=headers,
                                          expect_json=False)
            except OAuthError as exc:
                return explain(exc, log)
    else:
        key = api_key(args, log, required=False)
        if key is None:
            raise UsageError(f"no credential: give the user's JWT (--jwt, --jwt-file or the create-qscloud options), "
                             f"--session-file FILE, an API key (--api-key-file FILE or ${ENV_API_KEY}), or an OAuth "
                             "client (--client-id)")
        with _client(args, log, api_key=key) as client:
            response = client.request(method, args.path, params=query, json=body, headers=headers, expect_json=False)
    code = print_answer(response, args.raw, log)
    failed = _failed_items(response)
    if failed:
        raise QlikApiError(f"{method} {response.url}: {response.status}: {len(failed)} item(s) failed: "
                           + "; ".join(failed), status=response.status, method=method, url=response.url)
    return code


def _prefer_typed_credential(args: argparse.Namespace) -> None:
    """A credential typed on the command line wins over a conflicting one from a profile or the environment."""
    injected: dict[str, str] = getattr(args, "injected", {})

    def typed(name: str) -> bool:
        return getattr(args, name, None) is not None and name not in injected

    user = ("jwt", "jwt_file", "sub", "useremail")
    jwt_typed = any(typed(name) for name in user)
    key_typed = typed("api_key") or typed("api_key_file")
    drop_conflicting_user_credential(args, injected)
    if (jwt_typed or typed("session_file")) and not key_typed:
        args.api_key = args.api_key_file = None
    if key_typed and not jwt_typed:
        for name in (*user, "session_file"):
            if name in injected:
                setattr(args, name, None)


def drop_conflicting_user_credential(args: argparse.Namespace, injected: dict[str, str], *,
                                     minting: tuple[str, ...] = ("sub", "useremail")) -> None:
    """A typed JWT (--jwt, --jwt-file) wins over a profile's user for a token to make, and a typed user over a
    profile's JWT."""
    def typed(name: str) -> bool:
        return getattr(args, name, None) is not None and name not in injected

    given = ("jwt", "jwt_file")
    if any(typed(name) for name in given):
        for name in minting:
            if name in injected:
                setattr(args, name, None)
    elif any(typed(name) for name in minting):
        for name in given:
            if name in injected:
                setattr(args, name, None)


def _failed_items(response: Any) -> list[str]:
    """The items of a 207 Multi-Status answer whose own status is not 2xx, each described in one line."""
    if response.status != 207:
        return []
    try:
        data = response.json()
    except QlikApiError:
        return []
    items = data.get("data") if isinstance(data, dict) else data
    failed = []
    for number, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        status = item.get("status")
        code = int(status) if isinstance(status, int | str) and str(status).isdigit() else None
        if code is None or 200 <= code < 300:
            continue
        who = next((str(item[k]) for k in ("subject", "id", "name", "userId") if item.get(k)), f"item {number + 1}")
        what = ": ".join(str(item[k]) for k in ("code", "title", "detail") if item.get(k))
        failed.append(f"{safe_text(who)} ({code}{' ' + safe_text(what) if what else ''})")
    return failed


# --- qscloud idp ---------------------------------------------------------------------------------------------


def _certificate_input(args: argparse.Namespace) -> tuple[bytes, str]:
    if (args.cert_file is None) == (args.publickey_file is None):
        raise UsageError("give --cert-file (the certificate, as Qlik's examples upload) or --publickey-file")
    if args.cert_file is not None:
        return read_input("--cert-file", args.cert_file, what="certificate")
    return read_input("--publickey-file", args.publickey_file, what="public key")


def idp_create(args: argparse.Namespace, log: Log) -> int:
    data, name = _certificate_input(args)
    passphrase = read_passphrase("--cert-passphrase-file", args.cert_passphrase_file, log)
    if args.publickey_file is not None:
        log.warn("--publickey-file: Qlik's examples upload a certificate; whether Qlik Cloud takes a bare public key "
                 "is not documented (qs-jwt cert create writes publickey.cer)")

    def body(tenant_id: str | None) -> dict[str, Any]:
        return jwt_idp_body(issuer=args.issuer, certificate=data, kid=args.keyid, passphrase=passphrase,
                            description=args.description, clock_tolerance=args.clock_tolerance, tenant_id=tenant_id,
                            source=name)

    planned = body(args.tenant_id)
    kid = planned["options"]["staticKeys"][0]["kid"]
    if args.dry_run:
        _warn_unused_admin(args, log)
    if args.keyid is None:
        log.info(f"key id (kid): {kid} (the key's RFC 7638 thumbprint; give create-qscloud --keyid {kid})")
    if args.dry_run:
        if args.tenant_id is None:
            log.info("tenantIds: read from GET /api/v1/users/me when sent (--tenant-id sets it)")
        emit(to_json(planned))
        return ExitCode.OK
    with admin_client(args, log) as client:
        existing = [idp for idp in client.identity_providers(protocol=JWT_AUTH)
                    if (idp.get("options") or {}).get("issuer") == args.issuer]
        same = _same_key(existing, planned)
        if same is not None:
            log.info(f"the identity provider {same.get('id')!s} has this issuer, kid and key already; nothing created")
            emit(to_json(same))
            return ExitCode.OK
        if existing:
            for idp in existing:  # an info line: a kid (a thumbprint) would be hidden in an error line
                log.info(f"  the identity provider {safe_text(str(idp.get('id')))} has the issuer "
                         f"{safe_text(repr(args.issuer))} and the kid {safe_text(repr(_kid(idp)))}")
            raise QsJwtError(f"a JWT identity provider with the issuer {args.issuer!r} exists already, with another "
                             "key or kid; Qlik Cloud holds one key per identity provider: use another --issuer, or "
                             "delete it first (qs-jwt qscloud idp delete ID) once no token uses it")
        created = client.create_identity_provider(body(args.tenant_id or client.tenant_id()))
    log.info(f"created the JWT identity provider {created.get('id')!s}: tokens need --issuer {args.issuer} --keyid "
             f"{kid}")
    emit(to_json(created))
    return ExitCode.OK


def _kid(idp: dict[str, Any]) -> object:
    keys = (idp.get("options") or {}).get("staticKeys") or [{}]
    return keys[0].get("kid") if isinstance(keys[0], dict) else None


def _same_key(existing: list[dict[str, Any]], planned: dict[str, Any]) -> dict[str, Any] | None:
    wanted_kid = planned["options"]["staticKeys"][0]["kid"]
    wanted = identity_provider_thumbprint(planned)
    for idp in existing:
        keys = (idp.get("options") or {}).get("staticKeys") or [{}]
        if keys[0].get("kid") == wanted_kid and identity_provider_thumbprint(idp) == wanted:
            return idp
    return None


def idp_list(args: argparse.Namespace, log: Log) -> int:
    with admin_client(args, log) as client:
        idps = client.identity_providers(protocol=args.protocol)
    if args.output == "json":
        emit(to_json(idps))
        return ExitCode.OK
    lines = [f"{'ID':<26} {'PROTOCOL':<25} {'ACTIVE':<7} {'ISSUER / HOST':<32} {'KID':<43} DESCRIPTION"]
    for idp in idps:
        options: dict[str, Any] = idp["options"] if isinstance(idp.get("options"), dict) else {}
        kid = _kid(idp) or ""
        where = options.get("issuer") or _multicloud_host(idp) or ""
        lines.append(f"{safe_text(str(idp.get('id'))):<26} {safe_text(str(idp.get('protocol'))):<25} "
                     f"{'yes' if idp.get('active') else 'no':<7} {safe_text(str(where)):<32} {safe_text(str(kid)):<43} "
                     f"{safe_text(str(idp.get('description') or ''))}")
    if not idps:
        log.info("no identity provider" + (f" with the protocol {args.protocol}" if args.protocol else ""))
        return ExitCode.OK
    emit("\n".join(lines))
    return ExitCode.OK


def _multicloud_host(idp: dict[str, Any]) -> str | None:
    token = idp.get("base64Encoded")
    if not isinstance(token, str):
        return None
    try:
        return str(decode_bearer_token(token).get("hostname"))
    except QsJwtError:
        return None


def idp_get(args: argparse.Namespace, log: Log) -> int:
    with admin_client(args, log) as client:
        emit(to_json(client.identity_provider(args.id)))
    return ExitCode.OK


def idp_delete(args: argparse.Namespace, log: Log) -> int:
    with admin_client(args, log) as client:
        client.delete_identity_provider(args.id)
    log.info(f"deleted the identity provider {args.id}")
    return ExitCode.OK


def idp_check(args: argparse.Namespace, log: Log) -> int:
    from ._create import signer_for

    public_key = signer_for(args, log).public_key
    with admin_client(args, log) as client:
        idps = client.identity_providers(protocol=JWT_AUTH)
    report = check_identity_providers(idps, public_key, issuer=args.issuer, keyid=args.keyid)
    if args.output == "json":
        emit(to_json(report.to_dict()))
    else:
        emit("\n".join(_report_lines(report, report.identity_provider)))
    return ExitCode.OK if report.ok else ExitCode.VERIFY


def _report_lines(report: CheckReport, idp: dict[str, Any] | None) -> list[str]:
    lines = []
    for finding in report.findings:
        lines += [f"{finding.severity.upper()}: {safe_text(finding.message)}", f"  fix: {safe_text(finding.fix)}"]
    if report.ok and idp is not None:
        options = idp.get("options") or {}
        kid = (options.get("staticKeys") or [{}])[0].get("kid")
        lines.append(f"OK: the identity provider {safe_text(str(idp.get('id')))} accepts tokens from this key with "
                     f"--issuer {safe_text(repr(options.get('issuer')))} --keyid {safe_text(repr(kid))}")
    else:
        lines.append(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    return lines


# --- qscloud multicloud --------------------------------------------------------------------------------------


def _bearer_token_text(value: str, flag: str) -> str:
    """B64, @FILE or @- (standard input)."""
    if value.startswith("@"):
        raw = read_stdin("bearer token") if value == "@-" else read_input(flag, value[1:], what="bearer token")[0]
        try:
            return raw.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            raise QsJwtError(f"{flag}: the file is not text (the bearer token is base64)") from None
    return value.strip()


def mc_decode(args: argparse.Namespace, log: Log) -> int:
    decoded = decode_bearer_token(_bearer_token_text(args.bearer_token, "--bearer-token"))
    emit(to_json({**describe_bearer_token(decoded), "decoded": decoded}))
    return ExitCode.OK


def mc_create(args: argparse.Namespace, log: Log) -> int:
    if args.dry_run:
        _warn_unused_admin(args, log)
    original = _bearer_token_text(args.from_bearer_token, "--from-bearer-token")
    hostname = args.hostname
    if hostname is None:
        if args.tenant is None:
            raise UsageError("give --hostname (the tenant's host name) or --tenant")
        hostname = tenant_url(args).partition("://")[2]
    token = rebuild_bearer_token(original, hostname)

    def body(tenant_id: str | None) -> dict[str, Any]:
        return multicloud_idp_body(token, tenant_id=tenant_id, description=args.description)

    planned = body(args.tenant_id)
    if args.dry_run:
        if args.tenant_id is None:
            log.info("tenantIds: read from GET /api/v1/users/me when sent (--tenant-id sets it)")
        emit(to_json(planned))
        return ExitCode.OK
    with admin_client(args, log) as client:
        created = client.create_identity_provider(body(args.tenant_id or client.tenant_id()))
    log.info(f"created the multi-cloud identity provider {created.get('id')!s} for {hostname}")
    emit(to_json(created))
    return ExitCode.OK
